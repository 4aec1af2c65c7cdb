"""Validate listed images, remembering the results so that a later run reads only the
files that are new or changed."""

from __future__ import annotations

import hashlib
import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from resnet_finetune.data.images import ImageChecks, inspect_image
from resnet_finetune.data.listing import REPORT_COLUMNS
from resnet_finetune.data.quality import perceptual_hashes
from resnet_finetune.files import atomic_path
from resnet_finetune.progress import progress_bar

_FACTS = ["sha256", "width", "height", "mode", "read_path", "format", "phash"]
_RESULTS = ["reason", "detail", *_FACTS]


def _load_validated(cache_file: Path | None, signature: str) -> pd.DataFrame | None:
    """The cached validation results (one row per path: ``_STAT_COLUMNS``, reason,
    detail and the facts), or ``None`` without a cache made under the same checks."""
    if cache_file is None or not cache_file.is_file():
        return None
    try:
        with open(cache_file, "rb") as handle:
            stored = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    return stored.get("table") if stored.get("signature") == signature else None


def _save_validated(cache_file: Path, signature: str, table: pd.DataFrame) -> None:
    """Written whole or not at all: a hidden sibling first, renamed into place."""
    with atomic_path(cache_file) as partial, open(partial, "wb") as handle:
        pickle.dump({"signature": signature, "table": table}, handle, protocol=5)


# What tells a file unchanged since it was validated. Size and mtime alone miss a rewrite
# of the same size whose mtime was set back (``touch -d``, ``os.utime``, a copy keeping
# times); the inode change time cannot be set back, and a new inode or device (a file
# replaced by another) changes it too. A file is read again when any of them differ.
_STAT_COLUMNS = ["size", "mtime", "ctime", "inode", "device"]


def _file_stats(paths: list[str]) -> np.ndarray:
    """One row of ``_STAT_COLUMNS`` per file (ns for times); -1 where it cannot be read."""
    stats = np.full((len(paths), len(_STAT_COLUMNS)), -1, np.int64)
    for index, path in enumerate(paths):
        try:
            status = os.stat(path)
        except OSError:
            continue
        stats[index] = (
            status.st_size,
            status.st_mtime_ns,
            status.st_ctime_ns,
            status.st_ino,
            status.st_dev,
        )
    return stats


def validated_cache(intermediate_dir: str | Path, source: str | Path) -> Path:
    """Where the validation results of the images under ``source`` are kept."""
    digest = hashlib.sha256(str(Path(source).resolve()).encode()).hexdigest()[:16]
    return Path(intermediate_dir) / "validated" / f"{digest}.pkl"


def validate_files(
    files: pd.DataFrame,
    checks: ImageChecks,
    converted_dir: str | Path,
    perceptual: bool = False,
    cache_file: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``files`` into readable images (with their facts) and a report of the rest;
    ``perceptual``: with the perceptual hash of each image (column ``phash``).

    Files are decoded on all cores (Pillow and hashlib release the GIL), with a progress
    bar at a terminal (see ``resnet_finetune.progress``). With ``cache_file``, a file
    whose path, size, modification and inode change times, inode and device match an
    earlier validation under the same checks is not read again: its facts (or its
    rejection) come from the cache, which is then rewritten atomically with this run's
    files."""
    cache_file = Path(cache_file) if cache_file is not None else None
    signature = repr((checks, perceptual, str(Path(converted_dir).resolve())))
    paths = files["path"].astype(str).tolist()
    stats = _file_stats(paths)
    readable = stats[:, 0] >= 0
    results = pd.DataFrame(index=range(len(paths)), columns=_RESULTS, dtype=object)
    reuse = np.zeros(len(paths), bool)
    known = _load_validated(cache_file, signature)
    if known is not None and len(known) and set(_STAT_COLUMNS) <= set(known.columns):
        cached = known.reindex(paths)
        # Compared as exact integers (a reindex with new paths would make them floats).
        row = known.index.get_indexer(paths)
        recorded = known[_STAT_COLUMNS].to_numpy(np.int64)[row]
        reuse = (row >= 0) & (recorded == stats).all(axis=1) & readable
        read_paths = cached["read_path"].to_numpy()
        for index in np.flatnonzero(reuse):  # an RGB copy that was removed is made again
            read_path = read_paths[index]
            if isinstance(read_path, str) and read_path != paths[index]:
                reuse[index] = os.path.exists(read_path)
        results.loc[reuse, _RESULTS] = cached.loc[:, _RESULTS].to_numpy()[reuse]
    todo = np.flatnonzero(~reuse)
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        inspected = pool.map(
            lambda index: inspect_image(paths[index], checks, Path(converted_dir), perceptual),
            todo,
        )
        fresh = list(
            progress_bar(inspected, total=len(todo), desc="validating images", unit="file")
        )
    # Hashed together, vectorised: per-image Python arithmetic held the GIL in the threads.
    accepted = [facts for facts, rejection in fresh if not rejection]
    hashes = perceptual_hashes([facts.pop("hash_thumbnail") for facts in accepted])
    for facts, phash in zip(accepted, hashes):
        facts["phash"] = phash
    for index, (facts, rejection) in zip(todo, fresh):
        row = dict(zip(("reason", "detail"), rejection)) if rejection else facts
        results.loc[index, _RESULTS] = [row.get(column) for column in _RESULTS]
    if cache_file is not None and (len(todo) or known is None or len(known) != len(paths)):
        table = results.assign(path=paths, **dict(zip(_STAT_COLUMNS, stats.T)))[readable]
        table = table.drop_duplicates("path").set_index("path")
        _save_validated(cache_file, signature, table)
    rejected = results["reason"].notna().to_numpy()
    report = pd.DataFrame(
        {
            "path": np.asarray(paths, dtype=object)[rejected],
            "reason": results.loc[rejected, "reason"].to_numpy(),
            "detail": results.loc[rejected, "detail"].to_numpy(),
        },
        columns=REPORT_COLUMNS,
    )
    kept = pd.concat(
        [
            files[~rejected].reset_index(drop=True),
            results.loc[~rejected, _FACTS].reset_index(drop=True),
        ],
        axis=1,
    )
    kept = kept.astype({"width": "int64", "height": "int64"})
    return kept, report
