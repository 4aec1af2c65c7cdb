"""Pretraining nodes: build a ResNet from scratch and train it on the source task."""

from __future__ import annotations

import keras
import pandas as pd

from resnet_finetune.data.augment import model_augmenter
from resnet_finetune.data.manifest import data_identity
from resnet_finetune.models import build_backbone, build_classifier
from resnet_finetune.training import Compute, TrainingCheckpoint, train
from resnet_finetune.training.engine import index_class_weights


def build_model(
    class_map: dict[str, int], backbone: dict, input_options: dict, augmentation: dict, seed: int
) -> keras.Model:
    """A freshly initialised classifier for the source classes."""
    keras.utils.set_random_seed(seed)
    return build_classifier(
        build_backbone(backbone),
        len(class_map),
        image_size=tuple(input_options["image_size"]),
        preprocessing=backbone.get("preprocessing", "tf"),
        augmentation=model_augmenter(augmentation, seed),
    )


def train_model(
    model: keras.Model,
    train_batches,
    val_batches,
    manifest: pd.DataFrame,
    class_weights: dict[str, float],
    class_map: dict[str, int],
    input_options: dict,
    augmentation: dict,
    training: dict,
    compute: dict,
    checkpoints: dict,
    seed: int,
) -> tuple[keras.Model, pd.DataFrame]:
    """Train every layer of ``model``; return it with its per-epoch history. An
    interrupted run resumes from its checkpoint — only the same data, seed and settings."""
    keras.utils.set_random_seed(seed)
    identity = data_identity(manifest, seed, input_options, augmentation)
    history = train(
        model,
        train_batches,
        val_batches,
        class_weight=index_class_weights(class_weights, class_map),
        compute=Compute.from_options(compute),
        checkpoint=TrainingCheckpoint.from_options(checkpoints, "pretrain", identity),
        **training,
    )
    return model, history
