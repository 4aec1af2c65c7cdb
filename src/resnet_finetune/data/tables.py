"""Small CSV tables a user writes (image lists, corrections)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_text_table(csv_path: Path, required: set[str], header: str) -> pd.DataFrame:
    """A CSV of strings (nothing read as NaN), refused naming the file when it lacks one
    of the ``required`` columns (``header`` shows the expected one)."""
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    if missing := required - set(table.columns):
        raise ValueError(
            f"{str(csv_path)!r} lacks the column(s) {sorted(missing)}: expected a header {header}"
        )
    return table
