"""Fine-tuning nodes: resolve the backbone, fine-tune it, train the scratch baseline.
Both trained models leave with their model card (class names, held-out split, the
parameters and data that made them)."""

from __future__ import annotations

from pathlib import Path

import keras
import pandas as pd

from resnet_finetune.data.identity import data_identity
from resnet_finetune.data.training_set import TrainingSet
from resnet_finetune.evaluation.calibration import calibrate as calibrate_model
from resnet_finetune.evaluation.inference import file_sha256
from resnet_finetune.models import (
    BackboneSpec,
    backbone_from_weights,
    build_backbone,
    build_classifier,
)
from resnet_finetune.models.card import attach_card, make_card
from resnet_finetune.models.classifier import WEIGHT_FILES
from resnet_finetune.training import Compute, TrainingCheckpoint, finetune, train
from resnet_finetune.training.checkpoints import CheckpointOptions
from resnet_finetune.training.engine import TrainingOptions
from resnet_finetune.training.finetune import (
    EpochSeconds,
    baseline_network,
    baseline_options,
    make_phases,
)


def prepare_backbone(
    backbone: BackboneSpec, pretrained_model: keras.Model | None, seed: int
) -> keras.Model:
    """The backbone ``backbone.weights`` names (``pretrain`` uses ``pretrained_model``);
    layers without loaded weights are initialised from ``seed``."""
    keras.utils.set_random_seed(seed)
    return backbone_from_weights(backbone, pretrained_model)


def _start_weights(backbone: BackboneSpec) -> dict:
    """The weights file the backbone started from, by path and SHA-256 (none: {})."""
    weights = backbone.weights
    if not weights.endswith(WEIGHT_FILES):
        return {}
    path = Path(weights).resolve()
    return {"start_weights_path": str(path), "start_weights_sha256": file_sha256(path)}


def record_card_parameters(**blocks) -> dict:
    """The parameter blocks a trained model's card records (``models.card.CARD_PARAMETERS``,
    each a ``params:`` input of this node); ``make_card`` records them as YAML gives them."""
    return blocks


def _with_card(
    model: keras.Model,
    history: pd.DataFrame,
    data: TrainingSet,
    target: dict,
    preprocessing: str,
    card_parameters: dict,
    dataset: str,
    start_weights: dict | None = None,
    calibration: dict | None = None,
) -> keras.Model:
    return attach_card(
        model,
        make_card(
            data.manifest,
            data.class_map,
            history,
            image_size=target["input"].image_size,
            resize=target["input"].resize,
            preprocessing=preprocessing,
            parameters=card_parameters,
            dataset_sha256=dataset,
            summary=data.summary,
            start_weights=start_weights,
            calibration=calibration,
        ),
    )


def finetune_model(
    backbone_model: keras.Model,
    data: TrainingSet,
    training: TrainingOptions,
    phases: list[dict],
    head_dropout: float,
    calibrate: bool,
    target: dict,
    backbone: BackboneSpec,
    compute: Compute,
    checkpoints: CheckpointOptions,
    seed: int,
    card_parameters: dict,
) -> tuple[keras.Model, pd.DataFrame]:
    """New head for the target classes, then the phases of ``finetune.phases`` (each
    ``finetune.training`` with its own overrides)."""
    keras.utils.set_random_seed(seed)
    identity = data_identity(data.manifest, target, seed)
    model, history = finetune(
        backbone_model,
        data.train,
        data.val,
        num_classes=len(data.class_map),
        image_size=target["input"].image_size,
        phases=make_phases(training, phases),
        head_dropout=head_dropout,
        preprocessing=backbone.preprocessing,
        augmentation=target["augmentation"].model_layers(seed),
        augmented_data=target["augmentation"].changes_pipeline_images,
        class_weight=data.class_weight,
        compute=compute,
        checkpoint=TrainingCheckpoint.from_options(checkpoints, "finetune", identity),
        seed=seed,
    )
    # Only the fine-tuned model is calibrated: the scratch baseline is a yardstick.
    model, calibration = calibrate_model(model, data.val) if calibrate else (model, None)
    return _with_card(
        model,
        history,
        data,
        target,
        backbone.preprocessing,
        card_parameters,
        identity["dataset_sha256"],
        _start_weights(backbone),
        calibration,
    ), history


def train_scratch_baseline(
    data: TrainingSet,
    training: TrainingOptions,
    phases: list[dict],
    head_dropout: float,
    baseline: dict,
    target: dict,
    backbone: BackboneSpec,
    compute: Compute,
    checkpoints: CheckpointOptions,
    seed: int,
    card_parameters: dict,
) -> tuple[keras.Model, pd.DataFrame]:
    """A network trained from random weights on the same target split: the fine-tuned
    network, or the one ``baseline`` names (``BASELINE_NETWORK_KEYS``, e.g. the recipe's
    small from-scratch network for a pretrained start, resizing the images inside).
    Epochs: ``baseline.epochs``, or as many as all fine-tuning phases together. What
    pretraining is measured against; its card's ``backbone`` is the network it trained,
    its history's ``seconds`` what each epoch cost."""
    network, resize_to = baseline_network(backbone, baseline)
    keras.utils.set_random_seed(seed)
    model = build_classifier(
        build_backbone(network),
        len(data.class_map),
        image_size=target["input"].image_size,
        dropout=head_dropout,
        preprocessing=network.preprocessing,
        augmentation=target["augmentation"].model_layers(seed),
        resize_to=resize_to,
    )
    identity = data_identity(data.manifest, target, seed)
    history = train(
        model,
        data.train,
        data.val,
        options=baseline_options(training, make_phases(training, phases), baseline),
        class_weight=data.class_weight,
        compute=compute,
        callbacks=[EpochSeconds()],
        checkpoint=TrainingCheckpoint.from_options(checkpoints, "baseline", identity),
    )
    card = {**card_parameters, "backbone": network}
    return _with_card(
        model,
        history,
        data,
        target,
        network.preprocessing,
        card,
        identity["dataset_sha256"],
    ), history
