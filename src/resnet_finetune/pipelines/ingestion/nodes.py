"""Ingestion and augmentation nodes, instantiated as ``source`` and ``target``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from resnet_finetune.data.augment import build_augmenter
from resnet_finetune.data.embedded import write_digits_folder
from resnet_finetune.data.input_pipeline import apply_augmentation, image_dataset
from resnet_finetune.data.manifest import SplitSpec, build_manifest, summarise


def locate_images(data_dir: str | None, embedded: dict) -> str:
    """The user's folder, or the embedded digits written out as PNG class folders."""
    if data_dir is None or str(data_dir).strip() == "":
        return str(write_digits_folder(embedded["dir"], list(embedded["digits"])))
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"data_dir={str(data_dir)!r} is not a folder: point it at a folder of class "
            "sub-folders (e.g. --params target.data_dir=/path/to/images)"
        )
    return str(path.resolve())


def ingest_images(
    image_root: str, split: dict
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int], dict]:
    """Manifest, report of left-out files, class map and summary of one image folder."""
    manifest, report, class_map = build_manifest(image_root, SplitSpec(**split))
    summary = {"image_root": image_root, **summarise(manifest, report)}
    return manifest, report, class_map, summary


def make_input_datasets(manifest: pd.DataFrame, input_options: dict, seed: int):
    """Shuffled training batches and ordered validation batches of uint8 images."""
    common = {
        "image_size": tuple(input_options["image_size"]),
        "batch_size": input_options["batch_size"],
        "seed": seed,
        "cache": input_options.get("cache", True),
    }
    train = image_dataset(manifest, "train", shuffle=True, **common)
    val = image_dataset(manifest, "val", shuffle=False, **common)
    return train, val


def augment_training_images(train_images, augmentation: dict, seed: int):
    """Random augmentation of the training batches only."""
    return apply_augmentation(train_images, build_augmenter(**augmentation, seed=seed))
