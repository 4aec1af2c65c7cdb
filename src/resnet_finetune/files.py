"""Files written whole or not at all."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A hidden sibling of ``path`` to write (a file or a folder), renamed onto ``path``
    when the block ends without error and removed otherwise: a reader, or a run killed
    while writing, finds the old ``path`` or the whole new one, never half of one. The
    sibling keeps ``path``'s suffix (Keras picks a format from it) and is unique per
    writer (two threads may write one path at once)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial-{uuid.uuid4().hex}-{path.name}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        if partial.is_dir() and not partial.is_symlink():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)


def write_text_atomically(path: str | Path, text: str) -> None:
    with atomic_path(path) as partial:
        partial.write_text(text)
