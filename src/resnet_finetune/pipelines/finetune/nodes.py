"""Fine-tuning nodes: resolve the backbone, fine-tune it, train the scratch baseline."""

from __future__ import annotations

import keras
import pandas as pd

from resnet_finetune.data.augment import model_augmenter
from resnet_finetune.models import backbone_from_weights, build_backbone, build_classifier
from resnet_finetune.pipelines.pretrain.nodes import loss_weights
from resnet_finetune.training import Compute, TrainingCheckpoint, finetune, train
from resnet_finetune.training.finetune import baseline_options


def prepare_backbone(backbone: dict, pretrained_model: keras.Model) -> keras.Model:
    """The backbone ``backbone.weights`` names (``pretrain`` uses ``pretrained_model``)."""
    return backbone_from_weights(backbone, pretrained_model)


def finetune_model(
    backbone_model: keras.Model,
    train_batches,
    val_batches,
    class_weights: dict[str, float],
    class_map: dict[str, int],
    backbone: dict,
    input_options: dict,
    augmentation: dict,
    options: dict,
    compute: dict,
    checkpoints: dict,
    seed: int,
) -> tuple[keras.Model, pd.DataFrame]:
    """New head for the target classes, then the phases of ``finetune.phases``."""
    keras.utils.set_random_seed(seed)
    return finetune(
        backbone_model,
        train_batches,
        val_batches,
        num_classes=len(class_map),
        image_size=tuple(input_options["image_size"]),
        phases=options["phases"],
        head_dropout=options.get("head_dropout", 0.0),
        preprocessing=backbone.get("preprocessing", "tf"),
        augmentation=model_augmenter(augmentation, seed),
        training_options=options.get("training", {}),
        class_weight=loss_weights(class_weights, class_map),
        compute=Compute.from_options(compute),
        checkpoint=TrainingCheckpoint.from_options(checkpoints, "finetune"),
    )


def train_scratch_baseline(
    train_batches,
    val_batches,
    class_weights: dict[str, float],
    class_map: dict[str, int],
    backbone: dict,
    input_options: dict,
    augmentation: dict,
    finetune_options: dict,
    compute: dict,
    checkpoints: dict,
    baseline: dict,
    seed: int,
) -> tuple[keras.Model, pd.DataFrame]:
    """The same ResNet, randomly initialised, trained on the same target split for as
    many epochs as all fine-tuning phases together: what pretraining is measured against."""
    keras.utils.set_random_seed(seed)
    model = build_classifier(
        build_backbone(backbone),
        len(class_map),
        image_size=tuple(input_options["image_size"]),
        dropout=finetune_options.get("head_dropout", 0.0),
        preprocessing=backbone.get("preprocessing", "tf"),
        augmentation=model_augmenter(augmentation, seed),
    )
    history = train(
        model,
        train_batches,
        val_batches,
        class_weight=loss_weights(class_weights, class_map),
        compute=Compute.from_options(compute),
        checkpoint=TrainingCheckpoint.from_options(checkpoints, "baseline"),
        **baseline_options(
            finetune_options.get("training", {}), finetune_options["phases"], baseline
        ),
    )
    return model, history
