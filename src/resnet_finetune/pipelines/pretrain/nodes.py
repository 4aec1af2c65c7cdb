"""Pretraining nodes: build a ResNet from scratch and train it on the source task."""

from __future__ import annotations

import logging

import keras
import pandas as pd

from resnet_finetune.data.augment import model_augmenter
from resnet_finetune.data.identity import data_identity
from resnet_finetune.data.training_set import TrainingSet
from resnet_finetune.models import build_backbone, build_classifier
from resnet_finetune.training import Compute, TrainingCheckpoint, train
from resnet_finetune.training.checkpoints import CheckpointOptions
from resnet_finetune.training.engine import TrainingOptions

logger = logging.getLogger(__name__)


def build_model(
    class_map: dict[str, int], backbone: dict, input_options: dict, augmentation: dict, seed: int
) -> keras.Model:
    """A freshly initialised classifier for the source classes."""
    keras.utils.set_random_seed(seed)
    return build_classifier(
        build_backbone(backbone),
        len(class_map),
        image_size=tuple(input_options["image_size"]),
        preprocessing=backbone["preprocessing"],
        augmentation=model_augmenter(augmentation, seed),
    )


def train_model(
    model: keras.Model,
    data: TrainingSet,
    task: dict,
    training: TrainingOptions,
    compute: Compute,
    checkpoints: CheckpointOptions,
    seed: int,
    backbone: dict,
) -> tuple[keras.Model, pd.DataFrame]:
    """Train every layer of ``model``; return it with its per-epoch history. An
    interrupted run resumes from its checkpoint — only the same data, seed and settings
    (``task``: the ``source`` block, all of which is part of the checkpoint's identity).
    When ``backbone.weights`` is not ``pretrain`` nothing will use a pretrained model:
    training is skipped, said in the log, and the untrained model and an empty history
    pass on (fine-tuning starts from what ``backbone.weights`` names)."""
    weights = backbone["weights"]
    if weights != "pretrain":
        logger.info(
            "pretraining skipped: backbone.weights=%r, so fine-tuning starts from that, not "
            "from a model pretrained on the source task (pretraining runs with "
            "backbone.weights=pretrain and your own source.data_dir)",
            weights,
        )
        return model, pd.DataFrame(columns=["epoch", "loss", "accuracy"])
    keras.utils.set_random_seed(seed)
    identity = data_identity(data.manifest, task, seed)
    history = train(
        model,
        data.train,
        data.val,
        class_weight=data.class_weight,
        compute=compute,
        checkpoint=TrainingCheckpoint.from_options(checkpoints, "pretrain", identity),
        options=training,
    )
    return model, history
