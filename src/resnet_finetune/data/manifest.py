"""The manifest of a folder or CSV list: its images listed, validated, corrected and
split, one row each, with the report of every file left out and why."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.listing import REPORT_COLUMNS, list_images
from resnet_finetune.data.quality import (
    QualitySpec,
    apply_corrections,
    duplicate_groups,
    split_label_conflicts,
)
from resnet_finetune.data.split import SplitSpec, complete_declared, split_undeclared
from resnet_finetune.data.validation import validate_files

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


def build_manifest(
    source: str | Path,
    spec: SplitSpec,
    checks: ImageChecks,
    converted_dir: str | Path,
    quality: QualitySpec | None = None,
    validated_cache: str | Path | None = None,
    seed: int = 42,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """List, validate and split the images of ``source`` (a folder or a CSV list).

    Returns ``(manifest, report, class_map)``. Declared splits (``train/val/test``
    folders or a ``split`` column) are respected as given; otherwise the split follows
    ``spec``, seeded by ``seed`` (the run's). Images that TensorFlow cannot decode
    faithfully get an RGB copy in ``converted_dir`` (see ``inspect_image``). ``quality``
    (default: all checks on): the user's corrections are applied, label conflicts left out
    (or kept), and copies (exact, or near with perceptual hashes) share a
    ``duplicate_group`` that splits keep together.
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
        images["split"], images["split_origin"] = complete_declared(images, spec, source, seed)
    else:
        images["split"] = split_undeclared(images, spec, seed)
        images["split_origin"] = "computed"
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
