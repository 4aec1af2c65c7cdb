"""Pretraining nodes: build a ResNet from scratch and train it on the source task."""

from __future__ import annotations

import keras
import pandas as pd

from resnet_finetune.models import build_backbone, build_classifier
from resnet_finetune.training import train


def build_model(
    class_map: dict[str, int], backbone: dict, input_options: dict, seed: int
) -> keras.Model:
    """A freshly initialised classifier for the source classes."""
    keras.utils.set_random_seed(seed)
    return build_classifier(
        build_backbone(backbone),
        len(class_map),
        image_size=tuple(input_options["image_size"]),
        preprocessing=backbone.get("preprocessing", "tf"),
    )


def train_model(
    model: keras.Model, train_batches, val_images, training: dict, seed: int
) -> tuple[keras.Model, pd.DataFrame]:
    """Train every layer of ``model``; return it with its per-epoch history."""
    keras.utils.set_random_seed(seed)
    history = train(model, train_batches, val_images, **training)
    return model, history
