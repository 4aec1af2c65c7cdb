"""Transfer learning: a new head, then phases that unfreeze the backbone from the top."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:  # pandas is imported where used: the training bench runs without it
    import pandas as pd

from resnet_finetune.models import build_classifier
from resnet_finetune.training.checkpoints import TrainingCheckpoint
from resnet_finetune.training.compute import Compute
from resnet_finetune.training.engine import TrainingOptions, train

_STAGE = re.compile(r"^(conv\d+)_block")
# What a phase sets besides training options.
PHASE_KEYS = ("name", "unfreeze_stages", "train_batchnorm")
# What a baseline block sets besides training options: the network it trains from scratch
# (a key left out: the fine-tuned network's own value).
BASELINE_NETWORK_KEYS = ("architecture", "width", "image_size", "preprocessing")


@dataclass(frozen=True)
class Phase:
    """One fine-tuning phase: ``unfreeze_stages`` (0 keeps the backbone frozen, a number
    counts residual stages from the top, ``all`` includes the stem), ``train_batchnorm``
    (BatchNorm of the unfrozen stages follows the new data) and its training options."""

    options: TrainingOptions
    name: str | None = None
    unfreeze_stages: int | str = 0
    train_batchnorm: bool = False

    def __post_init__(self):
        stages = self.unfreeze_stages
        if stages != "all" and (
            not isinstance(stages, int) or isinstance(stages, bool) or stages < 0
        ):
            raise ValueError(f"unfreeze_stages={stages!r} must be 'all' or an integer >= 0")
        if not isinstance(self.train_batchnorm, bool):
            raise ValueError(f"train_batchnorm={self.train_batchnorm!r} must be true or false")


def make_phases(shared: TrainingOptions, phases: list[dict]) -> list[Phase]:
    """The ``finetune.phases`` blocks as phases: each phase's training keys override the
    shared ``finetune.training`` options."""
    if not phases:
        raise ValueError("finetune.phases is empty: give at least one phase")
    made = []
    for index, phase in enumerate(phases):
        try:
            made.append(
                Phase(
                    shared.updated({k: v for k, v in phase.items() if k not in PHASE_KEYS}),
                    **{key: phase[key] for key in PHASE_KEYS if key in phase},
                )
            )
        except ValueError as error:
            raise ValueError(f"finetune.phases[{index}]: {error}") from None
    return made


def baseline_options(
    shared: TrainingOptions, phases: list[Phase], baseline: dict
) -> TrainingOptions:
    """The options of the from-scratch baseline: ``finetune.training`` overridden by the
    training keys of ``baseline`` (not its network, ``BASELINE_NETWORK_KEYS``); without
    ``epochs``, as many epochs as all phases together."""
    training = {k: v for k, v in baseline.items() if k not in BASELINE_NETWORK_KEYS}
    if "epochs" not in training:
        training["epochs"] = sum(p.options.epochs or 0 for p in phases) or None  # None: unknown
    try:
        return shared.updated(training)
    except ValueError as error:
        raise ValueError(f"baseline: {error}") from None


class EpochSeconds(keras.callbacks.Callback):
    """Logs each epoch's wall-clock seconds as ``seconds`` (what a training cost)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self._started


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
    phases: list[Phase],
    head_dropout: float = 0.0,
    preprocessing: str = "tf",
    augmentation: keras.Layer | None = None,
    class_weight: dict[int, float] | None = None,
    compute: Compute | None = None,
    checkpoint: TrainingCheckpoint | None = None,
) -> tuple[keras.Model, pd.DataFrame]:
    """Fine-tune ``backbone`` with a new head, one ``train`` call per phase (``make_phases``).
    With ``checkpoint`` each phase keeps its own (``phase-1``, ...): a resumed run skips
    finished phases. Returns the model and the history with a ``phase`` column.
    """
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
        set_trainable_stages(backbone, phase.unfreeze_stages, phase.train_batchnorm)
        history = train(
            model,
            train_data,
            val_data,
            options=phase.options,
            class_weight=class_weight,
            compute=compute,
            checkpoint=checkpoint and checkpoint.child(f"phase-{index + 1}"),
        )
        history.insert(0, "phase", phase.name or f"phase{index + 1}")
        histories.append(history)
    import pandas as pd  # not at the top: the training bench runs without pandas

    history = pd.concat(histories, ignore_index=True)
    history.insert(1, "global_epoch", range(1, len(history) + 1))
    return model, history
