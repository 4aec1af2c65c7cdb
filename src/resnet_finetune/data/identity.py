"""What identifies the data a training sees: its images, labels and splits."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from resnet_finetune.trees import plain


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


# Keys of a task block that name where its images are, not what they are: the manifest's
# dataset hash identifies the images themselves (the same images in another folder are the
# same data, as ``dataset_sha256`` holds).
_LOCATION_KEYS = ("data_dir", "embedded")


def task_settings(task: dict) -> dict:
    """A task block without the keys that say where its images are."""
    return {key: value for key, value in task.items() if key not in _LOCATION_KEYS}


def data_identity(manifest: pd.DataFrame, task: dict, seed: int) -> dict:
    """What decides the data a training sees, besides its own settings: the images with
    their labels and splits, the seed (order, augmentation) and the whole task block as
    the run resolved it (``source``, ``target``, ``degradation``: validation, split, class
    weights, quality, input, augmentation), with the content of the corrections file it
    names. Part of a training checkpoint's identity: a parameter left out here would let
    a run resume a checkpoint trained on other pixels or labels, so only the keys that
    locate the images are left out. Its blocks may be given typed (``ImageChecks``...)
    or as mappings: the identity is the same."""
    task = plain(task)
    corrections = (task.get("quality") or {}).get("corrections")
    return {
        "dataset_sha256": dataset_sha256(manifest),
        "seed": seed,
        "task": task_settings(task),
        "corrections_sha256": (
            hashlib.sha256(Path(corrections).read_bytes()).hexdigest() if corrections else None
        ),
    }
