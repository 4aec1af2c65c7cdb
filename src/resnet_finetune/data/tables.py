"""Small CSV tables a user writes (image lists, corrections), and the guard every CSV the
project writes goes through (spreadsheet formulas)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# A spreadsheet runs a cell that begins with one of these as a formula (OWASP, "CSV
# Injection"): such a string cell is written with a leading apostrophe, which spreadsheets
# show as text. A cell that itself begins with an apostrophe gets one more, so that
# ``restore_formulas`` gives back exactly what ``neutralise_formulas`` was given.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"


def _escape(value):
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, _ESCAPE)):
        return _ESCAPE + value
    return value


def _unescape(value):
    return value[1:] if isinstance(value, str) and value.startswith(_ESCAPE) else value


def _map_text(table: pd.DataFrame, function) -> pd.DataFrame:
    """``function`` applied to the string cells and column names; numbers untouched."""
    table = table.rename(columns=function)
    text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    return table.assign(**{str(c): table[c].map(function) for c in text}) if text else table


def neutralise_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` safe to open in a spreadsheet: string cells (and column names)
    that would run as formulas are prefixed with an apostrophe (see ``FORMULA_STARTS``)."""
    return _map_text(table, _escape)


def restore_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """The strings ``neutralise_formulas`` was given: one leading apostrophe removed."""
    return _map_text(table, _unescape)


def read_text_table(csv_path: Path, required: set[str], header: str) -> pd.DataFrame:
    """A CSV of strings (nothing read as NaN), refused naming the file when it lacks one
    of the ``required`` columns (``header`` shows the expected one). A cell the project
    wrote escaped (``neutralise_formulas``: ``'=x.png``) is read as it was (``=x.png``),
    so that a table made from the project's own CSVs names the same files."""
    table = restore_formulas(pd.read_csv(csv_path, dtype=str, keep_default_na=False))
    if missing := required - set(table.columns):
        raise ValueError(
            f"{str(csv_path)!r} lacks the column(s) {sorted(missing)}: expected a header {header}"
        )
    return table
