"""Fine-tuning nodes: resolve the backbone, fine-tune it, train the scratch baseline.
Both trained models leave with their model card (class names, held-out split, the
parameters and data that made them)."""

from __future__ import annotations

from pathlib import Path

import keras
import pandas as pd

from resnet_finetune.data.augment import model_augmenter, pipeline_augments
from resnet_finetune.data.identity import data_identity
from resnet_finetune.data.training_set import TrainingSet
from resnet_finetune.evaluation.calibration import calibrate
from resnet_finetune.evaluation.inference import file_sha256
from resnet_finetune.models import backbone_from_weights, build_backbone, build_classifier
from resnet_finetune.models.card import attach_card, make_card
from resnet_finetune.models.classifier import WEIGHT_FILES
from resnet_finetune.training import Compute, TrainingCheckpoint, finetune, train
from resnet_finetune.training.engine import TrainingOptions
from resnet_finetune.training.finetune import (
    BASELINE_NETWORK_KEYS,
    EpochSeconds,
    baseline_options,
    make_phases,
)


def prepare_backbone(
    backbone: dict, pretrained_model: keras.Model | None, seed: int
) -> keras.Model:
    """The backbone ``backbone.weights`` names (``pretrain`` uses ``pretrained_model``);
    layers without loaded weights are initialised from ``seed``."""
    keras.utils.set_random_seed(seed)
    return backbone_from_weights(backbone, pretrained_model)


def _start_weights(backbone: dict) -> dict:
    """The weights file the backbone started from, by path and SHA-256 (none: {})."""
    weights = str(backbone.get("weights"))
    if not weights.endswith(WEIGHT_FILES):
        return {}
    path = Path(weights).resolve()
    return {"start_weights_path": str(path), "start_weights_sha256": file_sha256(path)}


def _with_card(
    model: keras.Model,
    history: pd.DataFrame,
    data: TrainingSet,
    parameters: dict,
    dataset: str,
    start_weights: dict | None = None,
    calibration: dict | None = None,
) -> keras.Model:
    target = parameters["target"]["input"]
    return attach_card(
        model,
        make_card(
            data.manifest,
            data.class_map,
            history,
            image_size=target["image_size"],
            resize=target["resize"],
            preprocessing=parameters["backbone"]["preprocessing"],
            parameters=parameters,
            dataset_sha256=dataset,
            summary=data.summary,
            start_weights=start_weights,
            calibration=calibration,
        ),
    )


def finetune_model(
    backbone_model: keras.Model, data: TrainingSet, parameters: dict
) -> tuple[keras.Model, pd.DataFrame]:
    """New head for the target classes, then the phases of ``finetune.phases``."""
    seed, target, options = parameters["seed"], parameters["target"], parameters["finetune"]
    keras.utils.set_random_seed(seed)
    identity = data_identity(data.manifest, target, seed)
    model, history = finetune(
        backbone_model,
        data.train,
        data.val,
        num_classes=len(data.class_map),
        image_size=tuple(target["input"]["image_size"]),
        phases=make_phases(TrainingOptions(**options["training"]), options["phases"]),
        head_dropout=options["head_dropout"],
        preprocessing=parameters["backbone"]["preprocessing"],
        augmentation=model_augmenter(target["augmentation"], seed),
        augmented_data=pipeline_augments(target["augmentation"]),
        class_weight=data.class_weight,
        compute=Compute(**parameters["compute"]),
        checkpoint=TrainingCheckpoint.from_options(parameters["checkpoints"], "finetune", identity),
        seed=seed,
    )
    # Only the fine-tuned model is calibrated: the scratch baseline is a yardstick.
    model, calibration = calibrate(model, data.val) if options["calibrate"] else (model, None)
    start = _start_weights(parameters["backbone"])
    dataset = identity["dataset_sha256"]
    return _with_card(model, history, data, parameters, dataset, start, calibration), history


def train_scratch_baseline(data: TrainingSet, parameters: dict) -> tuple[keras.Model, pd.DataFrame]:
    """A network trained from random weights on the same target split: the fine-tuned
    network, or the one ``baseline`` names (``BASELINE_NETWORK_KEYS``, e.g. the recipe's
    small from-scratch network for a pretrained start, resizing the images inside).
    Epochs: ``baseline.epochs``, or as many as all fine-tuning phases together. What
    pretraining is measured against; its card's ``backbone`` is the network it trained,
    its history's ``seconds`` what each epoch cost."""
    seed, target, options = parameters["seed"], parameters["target"], parameters["finetune"]
    baseline, shared = parameters["baseline"], TrainingOptions(**options["training"])
    network = {**parameters["backbone"], "weights": "none"}
    network.update({k: v for k, v in baseline.items() if k in BASELINE_NETWORK_KEYS})
    resize_to = network.pop("image_size", None)
    keras.utils.set_random_seed(seed)
    model = build_classifier(
        build_backbone(network),
        len(data.class_map),
        image_size=tuple(target["input"]["image_size"]),
        dropout=options["head_dropout"],
        preprocessing=network["preprocessing"],
        augmentation=model_augmenter(target["augmentation"], seed),
        resize_to=tuple(resize_to) if resize_to else None,
    )
    identity = data_identity(data.manifest, target, seed)
    history = train(
        model,
        data.train,
        data.val,
        options=baseline_options(shared, make_phases(shared, options["phases"]), baseline),
        class_weight=data.class_weight,
        compute=Compute(**parameters["compute"]),
        callbacks=[EpochSeconds()],
        checkpoint=TrainingCheckpoint.from_options(parameters["checkpoints"], "baseline", identity),
    )
    card_parameters = {**parameters, "backbone": network}
    return _with_card(model, history, data, card_parameters, identity["dataset_sha256"]), history
