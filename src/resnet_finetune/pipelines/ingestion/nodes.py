"""Ingestion and augmentation nodes, instantiated as ``source`` and ``target``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from resnet_finetune.data.augment import Augmentation
from resnet_finetune.data.class_weights import balanced_class_weights, check_class_weights
from resnet_finetune.data.embedded import image_folder
from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.input_pipeline import (
    InputOptions,
    apply_augmentation,
    image_dataset,
    one_hot_labels,
)
from resnet_finetune.data.manifest import build_manifest, summarise
from resnet_finetune.data.quality import (
    QualitySpec,
    near_duplicate_table,
    quality_summary,
    warn_about_quality,
)
from resnet_finetune.data.split import SplitSpec
from resnet_finetune.data.validation import validated_cache
from resnet_finetune.evaluation.plots import classes_take_turns, image_grid, label_text
from resnet_finetune.training import Compute


def locate_images(data_dir: str | None, embedded: dict) -> str:
    """The user's folder or CSV list, or the embedded digits written as PNG class folders."""
    return image_folder(data_dir, embedded)


def ingest_images(
    image_root: str,
    split: SplitSpec,
    validation: ImageChecks,
    class_weights: str,
    intermediate_dir: str,
    seed: int,
    quality: QualitySpec,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int], dict, dict[str, float], pd.DataFrame]:
    """Manifest, report of left-out files, class map, summary, the loss weight of each
    class for training (``balanced`` ones, or none: ``{}``), and the table of copies
    (leakage across declared splits, near and exact duplicates, kept label conflicts)."""
    check_class_weights(class_weights)
    manifest, report, class_map = build_manifest(
        image_root,
        split,
        validation,
        Path(intermediate_dir) / "converted",
        quality,
        validated_cache(intermediate_dir, image_root),
        seed,
    )
    balanced = balanced_class_weights(manifest)
    copies = near_duplicate_table(manifest)
    checked = quality_summary(manifest, report, copies, quality)
    summary = {
        "image_root": image_root,
        "test_images_with_near_copy_in_train": checked["test_images_with_near_copy_in_train"],
        **summarise(manifest, report),
        "data_quality": checked,
        "balanced_class_weights": balanced,
    }
    warn_about_quality(checked)
    weights = balanced if class_weights == "balanced" else {}
    return manifest, report, class_map, summary, weights, copies


def make_input_datasets(
    manifest: pd.DataFrame,
    input_options: InputOptions,
    intermediate_dir: str,
    compute: Compute,
    seed: int,
):
    """Shuffled training batches and ordered validation batches of uint8 images.
    ``input.batch_size`` is per replica: the batches hold that many per training replica."""
    arguments = input_options.dataset_arguments(Path(intermediate_dir) / "cache")
    arguments["batch_size"] *= compute.replicas
    training_images = int((manifest["split"] == "train").sum())
    if arguments["batch_size"] > training_images:
        raise ValueError(
            f"input.batch_size={input_options.batch_size} (× replicas: "
            f"{arguments['batch_size']}) is larger than the {training_images} training images: "
            "each epoch would be one partial batch; lower input.batch_size"
        )
    train = image_dataset(manifest, "train", shuffle=True, seed=seed, **arguments)
    val = image_dataset(manifest, "val", shuffle=False, seed=seed, **arguments)
    return train, val


def augment_training_images(
    train_images, val_images, class_map: dict[str, int], augmentation: Augmentation, seed: int
):
    """Random augmentation of the training batches only (the image layers here unless
    ``augmentation.run_in`` is ``model``; MixUp/CutMix always here). When labels are mixed,
    validation labels become one-hot too, so that one loss serves both."""
    mixers = augmentation.mixers(seed)
    train = apply_augmentation(
        train_images, augmentation.pipeline_layers(seed), mixers, num_classes=len(class_map)
    )
    val = one_hot_labels(val_images, len(class_map)) if mixers else val_images
    return train, val


def preview_augmentation(
    manifest: pd.DataFrame,
    class_map: dict[str, int],
    input_options: InputOptions,
    augmentation: Augmentation,
    seed: int,
    count: int = 24,
) -> plt.Figure:
    """A grid of augmented training images, as the model sees them, with their labels,
    classes taking turns."""
    train = manifest[manifest["split"] == "train"]
    rows = classes_take_turns(train, "class_index", count)
    arguments = replace(input_options, cache="none", batch_size=len(rows)).dataset_arguments(None)
    images = image_dataset(rows, "train", shuffle=False, seed=seed, **arguments)
    augmented = apply_augmentation(
        images,
        augmentation.image_layers(seed),
        augmentation.mixers(seed),
        num_classes=len(class_map),
    )
    batch, labels = next(iter(augmented))
    names = {index: name for name, index in class_map.items()}
    titles = [label_text(label, names) for label in labels.numpy()]
    return image_grid(batch.numpy(), titles, title="What training sees")
