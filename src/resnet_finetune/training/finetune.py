"""Transfer learning: a new head, then phases that unfreeze the backbone from the top."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:  # pandas is imported where used: the training bench runs without it
    import pandas as pd

from resnet_finetune.models import build_classifier
from resnet_finetune.training.checkpoints import TrainingCheckpoint
from resnet_finetune.training.compute import Compute
from resnet_finetune.training.engine import train

_STAGE = re.compile(r"^(conv\d+)_block")
# What a phase may set besides the training options of ``train``.
PHASE_KEYS = ("name", "unfreeze_stages", "train_batchnorm")


def phase_options(shared: dict, phase: dict) -> dict:
    """The ``train`` options of one phase: the shared ``finetune.training`` block,
    overridden by the phase's own training keys."""
    return {**shared, **{key: value for key, value in phase.items() if key not in PHASE_KEYS}}


def baseline_options(shared: dict, phases: list[dict], baseline: dict) -> dict:
    """The ``train`` options of the from-scratch baseline: ``finetune.training``
    overridden by ``baseline``, for as many epochs as all phases together."""
    if "epochs" in baseline:
        raise ValueError(
            "baseline.epochs is not allowed: the baseline trains as many epochs as all "
            "fine-tuning phases together"
        )
    return {**shared, **baseline, "epochs": sum(phase.get("epochs", 0) for phase in phases)}


def set_trainable_stages(
    backbone: keras.Model, stages: int | str, train_batchnorm: bool = False
) -> list[str]:
    """Make the top ``stages`` residual stages trainable (``"all"``: stem too) and freeze
    the rest. BatchNorm layers stay frozen, which in Keras 3 also keeps them in inference
    mode (their moving statistics fixed); ``train_batchnorm`` lets those of the unfrozen
    stages learn and follow the new data instead. A ``training=False`` flag given when the
    classifier is built is not enough: Keras 3 does not keep it during ``fit``.
    Returns the names of the stages left trainable."""
    stage_of = {
        layer.name: m.group(1) for layer in backbone.layers if (m := _STAGE.match(layer.name))
    }
    ordered = sorted(set(stage_of.values()), key=lambda s: int(s[4:]))
    if stages == "all":
        chosen = set(ordered)
    elif isinstance(stages, int) and 0 <= stages <= len(ordered):
        chosen = set(ordered[len(ordered) - stages :])
    else:
        raise ValueError(
            f"unfreeze_stages={stages!r} is not allowed; allowed: 0-{len(ordered)} or 'all'"
        )
    backbone.trainable = True
    for layer in backbone.layers:
        in_scope = stages == "all" or stage_of.get(layer.name) in chosen
        is_batchnorm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = in_scope and (train_batchnorm or not is_batchnorm)
    return sorted(chosen, key=lambda s: int(s[4:]))


def finetune(
    backbone: keras.Model,
    train_data,
    val_data,
    *,
    num_classes: int,
    image_size: tuple[int, int],
    phases: list[dict],
    head_dropout: float = 0.0,
    preprocessing: str = "tf",
    augmentation: keras.Layer | None = None,
    training_options: dict | None = None,
    class_weight: dict[int, float] | None = None,
    compute: Compute | None = None,
    checkpoint: TrainingCheckpoint | None = None,
) -> tuple[keras.Model, pd.DataFrame]:
    """Fine-tune ``backbone`` with a new head, one ``train`` call per phase.

    Each phase names its ``epochs``, ``learning_rate``, ``unfreeze_stages`` (0 keeps
    the backbone frozen) and optionally ``train_batchnorm``. With ``checkpoint`` each
    phase keeps its own (``phase-1``, ...): a resumed run skips finished phases. Returns
    the model and the history with a ``phase`` column.
    """
    if not phases:
        raise ValueError("finetune.phases is empty: give at least one phase")
    model = build_classifier(
        backbone,
        num_classes,
        image_size=image_size,
        dropout=head_dropout,
        preprocessing=preprocessing,
        augmentation=augmentation,
    )
    histories = []
    for index, phase in enumerate(phases):
        set_trainable_stages(
            backbone, phase.get("unfreeze_stages", 0), phase.get("train_batchnorm", False)
        )
        options = phase_options(training_options or {}, phase)
        history = train(
            model,
            train_data,
            val_data,
            class_weight=class_weight,
            compute=compute,
            checkpoint=checkpoint and checkpoint.child(f"phase-{index + 1}"),
            **options,
        )
        history.insert(0, "phase", phase.get("name", f"phase{index + 1}"))
        histories.append(history)
    import pandas as pd  # not at the top: the training bench runs without pandas

    history = pd.concat(histories, ignore_index=True)
    history.insert(1, "global_epoch", range(1, len(history) + 1))
    return model, history
