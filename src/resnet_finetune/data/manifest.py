"""Find, validate and split the images of a folder of class sub-folders.

Every file under the root ends either as one row of the manifest or as one row of
the ingestion report with the reason it was left out: nothing disappears silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from sklearn.model_selection import train_test_split

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
]
REPORT_COLUMNS = ["path", "reason"]


@dataclass(frozen=True)
class SplitSpec:
    """How to split images that come without a train/val/test layout."""

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    train_per_class: int | None = None
    val_per_class: int | None = None
    min_side: int = 8
    max_pixels: int = 90_000_000
    seed: int = 42


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(root).parts)


def discover_files(root: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """List every non-hidden file under ``root`` with its class and declared split.

    Returns ``(files, skipped)``: ``files`` has columns path, label, split (None when
    the folder declares none); ``skipped`` lists files outside any class folder or
    with an extension that is not an image, with the reason.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist or is not a folder")
    rows, skipped = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not _is_hidden(p, root)):
        parts = path.relative_to(root).parts
        split = SPLIT_FOLDERS.get(parts[0].lower()) if len(parts) > 2 else None
        class_parts = parts[1:] if split else parts
        if len(class_parts) < 2:
            skipped.append((str(path), "not inside a class folder"))
        elif path.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append((str(path), f"extension {path.suffix or '(none)'} is not an image type"))
        else:
            rows.append((str(path), class_parts[0], split))
    files = pd.DataFrame(rows, columns=["path", "label", "split"])
    return files, pd.DataFrame(skipped, columns=REPORT_COLUMNS)


def inspect_image(path: str, spec: SplitSpec) -> tuple[dict | None, str | None]:
    """Open one file fully; return its facts, or the reason it cannot be used."""
    data = Path(path).read_bytes()
    if not data:
        return None, "empty file (0 bytes)"
    try:
        with Image.open(path) as image:
            width, height = image.size
            mode = image.mode
            if width * height > spec.max_pixels:
                return None, f"{width}x{height} pixels exceed the limit of {spec.max_pixels}"
            image.load()  # decodes every byte: catches truncated files
    except UnidentifiedImageError:
        return None, "not an image PIL can read"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return None, f"unreadable image: {error}"
    if min(width, height) < spec.min_side:
        return None, f"{width}x{height} is smaller than the minimum side {spec.min_side}"
    facts = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "width": width,
        "height": height,
        "mode": mode,
    }
    return facts, None


def validate_files(files: pd.DataFrame, spec: SplitSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``files`` into readable images (with their facts) and a report of the rest."""
    kept, report = [], []
    for row in files.itertuples(index=False):
        facts, reason = inspect_image(row.path, spec)
        if reason:
            report.append((row.path, reason))
        else:
            kept.append({**row._asdict(), **facts})
    columns = [*files.columns, "sha256", "width", "height", "mode"]
    return pd.DataFrame(kept, columns=columns), pd.DataFrame(report, columns=REPORT_COLUMNS)


def _split_undeclared(images: pd.DataFrame, spec: SplitSpec) -> pd.Series:
    """Stratified, seeded split that keeps exact duplicates (same sha256) together."""
    groups = images.drop_duplicates("sha256")[["sha256", "label"]].reset_index(drop=True)
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
        if held_out > 0:
            _, rest = train_test_split(
                groups.index, test_size=held_out, stratify=groups["label"], random_state=spec.seed
            )
            split[rest] = "val"
            if spec.test_fraction > 0:
                _, test = train_test_split(
                    rest,
                    test_size=spec.test_fraction / held_out,
                    stratify=groups.loc[rest, "label"],
                    random_state=spec.seed,
                )
                split[test] = "test"
    by_hash = dict(zip(groups["sha256"], split))
    return images["sha256"].map(by_hash)


def build_manifest(
    root: str | Path, spec: SplitSpec
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Discover, validate and split the images under ``root``.

    Returns ``(manifest, report, class_map)``. Declared ``train/val/test`` folders are
    respected as given; otherwise the split follows ``spec``.
    """
    files, skipped = discover_files(root)
    images, unreadable = validate_files(files, spec)
    report = pd.concat([skipped, unreadable], ignore_index=True)
    if images.empty:
        raise ValueError(f"image folder {str(root)!r} holds no readable image in a class folder")
    classes = sorted(images["label"].unique())
    if len(classes) < 2:
        raise ValueError(
            f"image folder {str(root)!r} has one class ({classes[0]!r}); a classifier needs "
            "at least two class sub-folders"
        )
    declared = images["split"].notna()
    if declared.any() and not declared.all():
        loose = images.loc[~declared, "path"].iloc[0]
        raise ValueError(
            f"image folder {str(root)!r} mixes split folders (train/val/test) with class "
            f"folders at the top, e.g. {loose!r}: use one layout"
        )
    if not declared.any():
        images["split"] = _split_undeclared(images, spec)
    class_map = {label: index for index, label in enumerate(classes)}
    images["class_index"] = images["label"].map(class_map)
    return images[MANIFEST_COLUMNS].reset_index(drop=True), report, class_map


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
    }
