"""Find, validate and split the images of a folder of class sub-folders or a CSV list.

Every file under the root (every row of a CSV list) ends either as one row of the
manifest or as one row of the ingestion report with the reason it was left out:
nothing disappears silently.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import math
import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from resnet_finetune.checks import check_count, check_range
from resnet_finetune.data.images import ImageChecks, inspect_image
from resnet_finetune.data.quality import (
    QualitySpec,
    apply_corrections,
    duplicate_groups,
    perceptual_hashes,
    split_label_conflicts,
)
from resnet_finetune.data.tables import read_text_table
from resnet_finetune.progress import progress_bar

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
# Folder names that declare a split; "validation" is read as "val".
SPLIT_FOLDERS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
MANIFEST_COLUMNS = [
    "path",
    "label",
    "class_index",
    "split",
    "sha256",
    "width",
    "height",
    "mode",
    "read_path",
    "format",
    "phash",  # perceptual hash (data.quality), empty when near-duplicate detection is off
    "duplicate_group",  # copies (exact or near) share it: splits keep them together
    "correction",  # what the user's corrections changed (data.quality.apply_corrections)
    "split_origin",  # declared, computed, or carved from a declared train split
]
REPORT_COLUMNS = ["path", "reason", "detail"]
CLASS_WEIGHTS = ("none", "balanced")


@dataclass(frozen=True)
class SplitSpec:
    """How to split images that come without a declared train/val/test split: the
    parameter block ``<task>.split`` (and the run's ``seed``).

    val_fraction, test_fraction: shares of each class held out for validation and test
    (0: none); train_per_class, val_per_class: instead, that many images per class
    (few-shot; the rest is test), or null.
    """

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    train_per_class: int | None = None
    val_per_class: int | None = None
    seed: int = 42

    __pydantic_config__ = {"extra": "forbid"}  # unknown keys are typos

    def __post_init__(self):
        check_range("val_fraction", self.val_fraction, 0.0, 1.0, closed_high=False)
        check_range("test_fraction", self.test_fraction, 0.0, 1.0, closed_high=False)
        check_count("train_per_class", self.train_per_class, minimum=1, optional=True)
        check_count("val_per_class", self.val_per_class, minimum=1, optional=True)
        check_count("seed", self.seed, minimum=0)


def _extension_rejection(path: str | Path) -> tuple[str, str] | None:
    suffix = (
        os.path.splitext(os.path.basename(path))[1].rstrip(".")
        and os.path.splitext(os.path.basename(path))[1]
    )
    if suffix.lower() in IMAGE_EXTENSIONS:
        return None
    return "not an image type", f"extension {suffix or '(none)'}"


def _join(folder: str, name: str) -> str:
    """``str(Path(folder) / name)`` without making a Path (40,000 files: a second saved)."""
    return name if folder == "." else os.path.join(folder, name)


def _path_order(path: str) -> list[str]:
    """The order of sorted ``Path`` objects (part by part), for strings."""
    return path.split(os.sep)


def _is_folder(entry: os.DirEntry) -> bool:
    """A folder, or a link to one; a link that loops on itself is not (it is reported)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _loops(link: str) -> bool:
    try:
        os.stat(link)
    except OSError as error:
        return error.errno == errno.ELOOP
    return False


def _visible_files(root: Path, skipped: list) -> list[str]:
    """Every file under ``root`` in sorted order, symbolic links followed while they stay
    inside ``root``. Reported into ``skipped``: hidden files, links that leave ``root``
    (refused, as a CSV list refuses such paths), broken links, link loops and empty
    folders. A folder link into a folder already being walked (``a/to_b -> ../b`` and
    ``b/to_a -> ../a``) is a loop: not followed, and one warning names every such link.
    Plain files cost no system call beyond reading their folder."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist or is not a folder")
    real_root, found, loops = root.resolve(), [], []

    def walk(folder: str, hidden: bool, walking: frozenset[Path]) -> None:
        real = Path(folder).resolve()
        if real in walking:  # each real folder once on a path: links cannot loop forever
            loops.append(folder)
            skipped.append((folder, "link loop", f"a link back to {str(real)!r}: not followed"))
            return
        if not real.is_relative_to(real_root):
            skipped.append((folder, "outside the data root", f"a link to {str(real)!r}: refused"))
            return
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            return
        subfolders = sorted((e for e in entries if _is_folder(e)), key=lambda e: e.name)
        files = [e for e in entries if not _is_folder(e)]
        if not entries and folder != str(root):
            skipped.append((folder, "empty folder", "no file inside"))
        for entry in files:
            file = _join(folder, entry.name)
            if hidden or entry.name.startswith(".") or entry.name == "__MACOSX":
                skipped.append((file, "hidden", "hidden file or folder: ignored"))
            elif not entry.is_symlink():
                found.append(file)  # a plain file in a folder already inside the root
            elif not os.path.exists(file):
                reason = "link loop" if _loops(file) else "broken link"
                skipped.append((file, reason, f"links to {os.readlink(file)!r}"))
            elif not Path(file).resolve().is_relative_to(real_root):
                target = str(Path(file).resolve())
                skipped.append((file, "outside the data root", f"a link to {target!r}: refused"))
            else:
                found.append(file)
        for entry in subfolders:
            name = entry.name
            hides = hidden or name.startswith(".") or name == "__MACOSX"
            walk(_join(folder, name), hides, walking | {real})

    walk(str(root), False, frozenset())
    if loops:
        log.warning(
            "%d folder link(s) under %r loop back to a folder they are in, not followed: %s",
            len(loops),
            str(root),
            ", ".join(loops),
        )
    return sorted(found, key=_path_order)


def discover_files(root: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """List every file under ``root`` with its class and declared split.

    Returns ``(files, skipped)``: ``files`` has columns path, label, split (None when
    the folder declares none); ``skipped`` lists hidden files, files outside any class
    folder and files whose extension is not an image type, each with the reason.
    """
    root = Path(root)
    rows, skipped = [], []
    prefix = "" if str(root) == "." else os.path.join(str(root), "")
    for path in _visible_files(root, skipped):
        parts = path[len(prefix) :].split(os.sep)
        split = SPLIT_FOLDERS.get(parts[0].lower()) if len(parts) > 2 else None
        class_parts = parts[1:] if split else parts
        if len(class_parts) < 2:
            skipped.append((path, "no class", "not inside a class folder"))
        elif rejection := _extension_rejection(path):
            skipped.append((path, *rejection))
        else:
            rows.append((path, class_parts[0], split))
    files = pd.DataFrame(rows, columns=["path", "label", "split"])
    return files, pd.DataFrame(skipped, columns=REPORT_COLUMNS)


def discover_unlabelled(root: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every image file anywhere under ``root``, without classes (for prediction).

    Returns ``(files, skipped)`` like ``discover_files``; labels are empty.
    """
    rows, skipped = [], []
    for path in _visible_files(Path(root), skipped):
        if rejection := _extension_rejection(path):
            skipped.append((str(path), *rejection))
        else:
            rows.append((str(path), "", None))
    files = pd.DataFrame(rows, columns=["path", "label", "split"])
    return files, pd.DataFrame(skipped, columns=REPORT_COLUMNS)


def read_csv_list(csv_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows ``path,label[,split]`` of a CSV list; relative paths are read from the CSV's
    folder, which is also the data root: a path that leaves it is refused (reported)."""
    csv_path = Path(csv_path)
    root = csv_path.parent.resolve()
    table = read_text_table(csv_path, {"path", "label"}, "path,label[,split]")
    rows, skipped, seen = [], [], set()
    for number, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        path = (root / row["path"].strip()).resolve()
        split_name = row.get("split", "").strip()
        if split_name and split_name.lower() not in SPLIT_FOLDERS:
            raise ValueError(
                f"{str(csv_path)!r} line {number}: split {split_name!r} is not allowed; "
                f"allowed: {sorted(SPLIT_FOLDERS)} or empty"
            )
        if not path.is_relative_to(root):
            rejection = "outside the data root", f"line {number} leaves {str(root)!r}: refused"
        elif not path.is_file():
            rejection = "missing", f"line {number} names no existing file"
        elif path in seen:
            rejection = "listed twice", f"line {number} repeats an earlier row: kept once"
        elif not row["label"].strip():
            rejection = "no class", f"line {number} has no label"
        else:
            rejection = _extension_rejection(path)
        if rejection:
            skipped.append((str(path), *rejection))
            continue
        seen.add(path)
        rows.append((str(path), row["label"].strip(), SPLIT_FOLDERS.get(split_name.lower())))
    files = pd.DataFrame(rows, columns=["path", "label", "split"])
    return files, pd.DataFrame(skipped, columns=REPORT_COLUMNS)


def list_images(source: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``discover_files`` for a folder, ``read_csv_list`` for a ``.csv`` file."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".csv":
        return read_csv_list(source)
    return discover_files(source)


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
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    partial = cache_file.with_name(f".partial-{os.getpid()}-{cache_file.name}")
    with open(partial, "wb") as handle:
        pickle.dump({"signature": signature, "table": table}, handle, protocol=5)
    os.replace(partial, cache_file)


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


def _split_undeclared(images: pd.DataFrame, spec: SplitSpec) -> pd.Series:
    """Stratified, seeded split that keeps copies (same ``duplicate_group``) together."""
    groups = images.drop_duplicates("duplicate_group")[["duplicate_group", "label"]]
    groups = groups.reset_index(drop=True)
    rng = np.random.default_rng(spec.seed)
    if spec.train_per_class is not None:
        split = pd.Series("test", index=groups.index)
        val_per_class = (
            spec.val_per_class if spec.val_per_class is not None else spec.train_per_class
        )
        for label, members in groups.groupby("label").groups.items():
            needed = spec.train_per_class + val_per_class + 1
            if len(members) < needed:
                raise ValueError(
                    f"class {label!r} has {len(members)} distinct images; "
                    f"train_per_class={spec.train_per_class} and val_per_class={val_per_class} "
                    f"need at least {needed} (one left for test)"
                )
            order = rng.permutation(np.asarray(members))
            split[order[: spec.train_per_class]] = "train"
            split[order[spec.train_per_class : spec.train_per_class + val_per_class]] = "val"
    else:
        split = pd.Series("train", index=groups.index)
        held_out = spec.val_fraction + spec.test_fraction
        # At least one image of each class in each held-out split (stratification needs it).
        classes = groups["label"].nunique()
        if held_out > 0:
            try:
                split = _split_by_fractions(groups, spec, classes)
            except ValueError as error:
                sizes = groups["label"].value_counts()
                needed = 1 + (spec.val_fraction > 0) + (spec.test_fraction > 0)
                raise ValueError(
                    f"class {sizes.idxmin()!r} has {sizes.min()} distinct images, too few for "
                    f"split.val_fraction={spec.val_fraction} and split.test_fraction="
                    f"{spec.test_fraction}: a stratified split needs at least {needed} per class "
                    f"(one per split), often more; add images to it, leave it out, or set "
                    f"split.test_fraction=0 ({error})"
                ) from None
    by_group = dict(zip(groups["duplicate_group"], split))
    return images["duplicate_group"].map(by_group)


def _split_by_fractions(groups: pd.DataFrame, spec: SplitSpec, classes: int) -> pd.Series:
    """Stratified val and test splits of ``groups``: a fraction counted as scikit-learn
    counts it (rounded up, so that a seed splits as it always did), but at least one
    image of each class in each held-out split."""
    split = pd.Series("train", index=groups.index)
    both = spec.val_fraction > 0 and spec.test_fraction > 0
    held_out = spec.val_fraction + spec.test_fraction
    _, rest = train_test_split(
        groups.index,
        test_size=max(classes * (2 if both else 1), math.ceil(held_out * len(groups))),
        stratify=groups["label"],
        random_state=spec.seed,
    )
    split[rest] = "val" if spec.val_fraction > 0 else "test"
    if both:
        share = spec.test_fraction / held_out
        _, test = train_test_split(
            rest,
            test_size=max(classes, math.ceil(share * len(rest))),
            stratify=groups.loc[rest, "label"],
            random_state=spec.seed,
        )
        split[test] = "test"
    return split


def _complete_declared(
    images: pd.DataFrame, spec: SplitSpec, source
) -> tuple[pd.Series, pd.Series]:
    """Declared splits, completed so that a model is selected and tested on different
    images: without a declared ``test/``, the declared ``val/`` becomes the test split
    and the validation split that picks the best epoch is carved from ``train/``
    (stratified, seeded, duplicates together, ``val_fraction`` of it); likewise when
    only ``train/`` (and ``test/``) are declared. Returns the splits and where each
    came from."""
    declared = set(images["split"])
    if "train" not in declared:
        raise ValueError(
            f"{str(source)!r} declares {sorted(declared)} but no train split: add a train/ "
            "folder (or rows with split 'train')"
        )
    split = images["split"].copy()
    origin = split.map({"train": "declared train", "val": "declared val", "test": "declared test"})
    if "test" not in declared and "val" in declared:
        split[split == "val"] = "test"
        origin[split == "test"] = "declared val, used as test"
    if "val" not in set(split):
        train = split == "train"
        fractions = {"val_fraction": spec.val_fraction, "test_fraction": 0.0}
        if "test" not in set(split):
            fractions["test_fraction"] = spec.test_fraction
        carve = SplitSpec(**fractions, seed=spec.seed)
        if carve.val_fraction <= 0:
            raise ValueError(
                f"{str(source)!r} declares no val split and split.val_fraction is 0: "
                "the best epoch needs a validation split; set split.val_fraction > 0"
            )
        split[train] = _split_undeclared(images[train], carve)
        origin[train & (split != "train")] = "carved from declared train"
    return split, origin


def build_manifest(
    source: str | Path,
    spec: SplitSpec,
    checks: ImageChecks,
    converted_dir: str | Path,
    quality: QualitySpec | None = None,
    validated_cache: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """List, validate and split the images of ``source`` (a folder or a CSV list).

    Returns ``(manifest, report, class_map)``. Declared splits (``train/val/test``
    folders or a ``split`` column) are respected as given; otherwise the split follows
    ``spec``. Images that TensorFlow cannot decode faithfully get an RGB copy in
    ``converted_dir`` (see ``inspect_image``). ``quality`` (default: all checks on): the
    user's corrections are applied, label conflicts left out (or kept), and copies (exact,
    or near with perceptual hashes) share a ``duplicate_group`` that splits keep together.
    ``validated_cache``: a file where validation results are kept, so that a later run
    reads only the files that are new or changed (``validate_files``).
    """
    quality = quality or QualitySpec()
    files, skipped = list_images(source)
    images, unreadable = validate_files(
        files, checks, converted_dir, quality.near_duplicates, validated_cache
    )
    images, corrected = apply_corrections(images, quality.corrections, source)
    images, conflicts = split_label_conflicts(images, quality.label_conflicts)
    frames = [f for f in (skipped, unreadable, corrected, conflicts) if len(f)]
    report = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=REPORT_COLUMNS)
    )
    if images.empty:
        raise ValueError(f"{str(source)!r} holds no readable image with a class")
    classes = sorted(images["label"].unique())
    if len(classes) < 2:
        raise ValueError(
            f"{str(source)!r} has one class ({classes[0]!r}); a classifier needs at least two"
        )
    declared = images["split"].notna()
    if declared.any() and not declared.all():
        loose = images.loc[~declared, "path"].iloc[0]
        raise ValueError(
            f"{str(source)!r} declares a split (train/val/test) for some images and not for "
            f"others, e.g. {loose!r}: declare it for all or for none"
        )
    images["duplicate_group"] = duplicate_groups(
        images, quality.max_distance if quality.near_duplicates else None
    )
    if declared.any():
        images["split"], images["split_origin"] = _complete_declared(images, spec, source)
    else:
        images["split"] = _split_undeclared(images, spec)
        images["split_origin"] = "computed"
    class_map = {label: index for index, label in enumerate(classes)}
    images["class_index"] = images["label"].map(class_map)
    return images[MANIFEST_COLUMNS].reset_index(drop=True), report, class_map


def dataset_sha256(manifest: pd.DataFrame) -> str:
    """One SHA-256 for the dataset a manifest describes: its images' contents with their
    labels and splits, in any row order.

    Paths are left out on purpose: the same images in another folder (another checkout,
    machine or mount) are the same dataset."""
    rows = sorted(
        "\t".join(row)
        for row in manifest[["sha256", "label", "split"]].astype(str).itertuples(index=False)
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def check_class_weights(choice: str) -> None:
    if choice not in CLASS_WEIGHTS:
        raise ValueError(f"class_weights={choice!r} is not allowed; allowed: {list(CLASS_WEIGHTS)}")


def balanced_class_weights(manifest: pd.DataFrame) -> dict[str, float]:
    """scikit-learn's "balanced" weight of each class over the training split."""
    labels = manifest.loc[manifest["split"] == "train", "label"]
    classes = np.array(sorted(manifest["label"].unique()))
    missing = sorted(set(classes) - set(labels))
    if missing:
        raise ValueError(f"class(es) {missing} have no training image")
    weights = compute_class_weight("balanced", classes=classes, y=labels)
    return {str(label): float(weight) for label, weight in zip(classes, weights)}


def summarise(manifest: pd.DataFrame, report: pd.DataFrame) -> dict:
    """Counts per split and class, imbalance, and left-out files: the ingestion summary."""
    counts = manifest.groupby(["split", "label"]).size().unstack(fill_value=0)
    per_class = manifest["label"].value_counts()
    return {
        "num_images": int(len(manifest)),
        "num_left_out": int(len(report)),
        "num_classes": int(manifest["label"].nunique()),
        "images_per_split": {k: int(v) for k, v in manifest["split"].value_counts().items()},
        "images_per_class_and_split": {
            split: {label: int(n) for label, n in row.items()} for split, row in counts.iterrows()
        },
        "imbalance_ratio": float(per_class.max() / per_class.min()),
        "left_out_by_reason": {
            reason: int(n) for reason, n in report["reason"].value_counts().items()
        },
        "split_origin": {
            split: ", ".join(sorted(set(origins)))
            for split, origins in manifest.groupby("split")["split_origin"]
        }
        if "split_origin" in manifest
        else {},
    }


# Keys of a task block that name where its images are, not what they are: the manifest's
# dataset hash identifies the images themselves (the same images in another folder are the
# same data, as ``dataset_sha256`` holds).
_LOCATION_KEYS = ("data_dir", "embedded")


def data_identity(manifest: pd.DataFrame, task: dict, seed: int) -> dict:
    """What decides the data a training sees, besides its own settings: the images with
    their labels and splits, the seed (order, augmentation) and the whole task block as
    the run resolved it (``source``, ``target``, ``degradation``: validation, split, class
    weights, quality, input, augmentation), with the content of the corrections file it
    names. Part of a training checkpoint's identity: a parameter left out here would let
    a run resume a checkpoint trained on other pixels or labels, so only the keys that
    locate the images are left out."""
    corrections = (task.get("quality") or {}).get("corrections")
    return {
        "dataset_sha256": dataset_sha256(manifest),
        "seed": seed,
        "task": {key: value for key, value in task.items() if key not in _LOCATION_KEYS},
        "corrections_sha256": (
            hashlib.sha256(Path(corrections).read_bytes()).hexdigest() if corrections else None
        ),
    }
