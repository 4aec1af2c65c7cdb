"""Progress bars for long loops: shown to a person at a terminal, silent in CI and logs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TextIO


def show_progress(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (stderr by default) is a terminal and ``CI`` is not set.

    A bar redrawn in a log file or a CI console is noise, not progress."""
    in_ci = os.environ.get("CI", "").strip().lower() not in {"", "0", "false"}
    return (stream or sys.stderr).isatty() and not in_ci


def progress_bar(iterable: Iterable, *, total: int, desc: str, unit: str) -> Iterable:
    """``iterable`` wrapped in a tqdm bar on stderr (count, rate, ETA) when it is shown."""
    from tqdm import tqdm  # here: the library imports without tqdm (the training bench)

    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not show_progress())
