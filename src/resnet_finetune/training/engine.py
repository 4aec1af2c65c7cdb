"""The compile/fit engine shared by pretraining, fine-tuning and the scratch baseline."""

from __future__ import annotations

import logging
import math
import sys
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING

import keras
import numpy as np
from keras import ops

if TYPE_CHECKING:  # pandas is imported where used: the training bench runs without it
    import pandas as pd

from resnet_finetune.checks import check_choice, check_count, check_range
from resnet_finetune.errors import ParameterError
from resnet_finetune.models.resnet import all_layers, seed_states
from resnet_finetune.progress import show_progress
from resnet_finetune.training.checkpoints import (
    EpochRecorder,
    Snapshot,
    TrainingCheckpoint,
    fingerprint,
)
from resnet_finetune.training.compute import Compute
from resnet_finetune.training.schedules import SCHEDULES, make_schedule

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adamw", "sgd")
# BatchNorm scales/offsets and biases are not decayed (as timm and NVIDIA's recipes do).
_NO_DECAY = ["gamma", "beta", "bias"]


def make_optimizer(
    name: str,
    *,
    learning_rate: float,
    steps: int,
    warmup_steps: int = 0,
    schedule: str = "cosine",
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    gradient_clip_norm: float | None = None,
    ema_momentum: float | None = None,
    loss_scaling: bool = False,
) -> keras.optimizers.Optimizer:
    """``adamw``, or ``sgd`` with Nesterov momentum, on a ``make_schedule`` schedule.

    Weight decay skips BatchNorm and biases; ``gradient_clip_norm`` clips the global norm
    of the gradients; ``ema_momentum`` keeps an exponential moving average of the weights,
    which replaces them when training ends; ``loss_scaling`` (float16) scales the loss
    dynamically so that small gradients do not underflow.
    """
    check_choice("optimizer", name, OPTIMIZERS)
    common = {
        "learning_rate": make_schedule(
            schedule, learning_rate=learning_rate, steps=steps, warmup_steps=warmup_steps
        ),
        "weight_decay": weight_decay or None,
        "global_clipnorm": gradient_clip_norm,
        "use_ema": ema_momentum is not None,
        "ema_momentum": 0.99 if ema_momentum is None else ema_momentum,
    }
    if name == "adamw":
        optimizer = keras.optimizers.AdamW(**{**common, "weight_decay": weight_decay})
    else:
        optimizer = keras.optimizers.SGD(momentum=momentum, nesterov=True, **common)
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=_NO_DECAY)
    return keras.optimizers.LossScaleOptimizer(optimizer) if loss_scaling else optimizer


@keras.saving.register_keras_serializable(package="resnet_finetune")
class SparseCrossentropyWithSmoothing(keras.losses.Loss):
    """Cross-entropy for class-index labels with label smoothing, which Keras offers for
    one-hot labels only: the indices become one-hot rows inside the loss."""

    def __init__(self, label_smoothing: float = 0.0, name="sparse_smoothed_crossentropy", **kw):
        super().__init__(name=name, **kw)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        classes = ops.shape(y_pred)[-1]
        y_true = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes)
        return keras.losses.categorical_crossentropy(
            y_true, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def _label_rank(data) -> int:
    """1 for class indices, 2 for one-hot or mixed (MixUp, CutMix) label rows."""
    if hasattr(data, "element_spec"):  # tf.data: known without reading a batch
        return data.element_spec[1].shape.rank
    return np.ndim(data[0][1])  # a PyDataset's first batch


def _batches_per_epoch(data) -> int:
    """Batches of a tf.data dataset, or of anything with a length (a keras PyDataset)."""
    count = int(data.cardinality()) if hasattr(data, "cardinality") else len(data)
    if count < 1:
        raise ValueError("the training data must have a known, non-zero number of batches")
    return count


def make_loss(label_rank: int, label_smoothing: float = 0.0) -> keras.losses.Loss:
    """Cross-entropy for class indices (rank 1) or label rows (rank 2)."""
    if label_rank == 2:
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    if label_smoothing:
        return SparseCrossentropyWithSmoothing(label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


def _copy_state(source: keras.Model, target: keras.Model) -> None:
    """Trainable flags and weights of ``source`` into ``target``, a clone of it."""
    for source_layer, target_layer in zip(all_layers(source), all_layers(target), strict=True):
        target_layer.trainable = source_layer.trainable
    values = {variable.path: variable for variable in source.weights}
    for variable in target.weights:
        variable.assign(values[variable.path])


def _model_for(model: keras.Model, compute: Compute) -> keras.Model:
    """``model`` itself, or, when training runs in mixed precision or on several replicas,
    a copy whose layers compute in ``compute.policy`` and whose variables live on every
    replica. The output layers stay float32 (a float16 softmax loses small
    probabilities); augmentation (a nested ``Sequential``) keeps its dtype, as it works on
    pixel values. With ``compute.sync_batchnorm`` BatchNorm layers synchronise across
    replicas."""
    if compute.policy == "float32" and compute.strategy is None:
        return model
    outputs = {id(tensor._keras_history.operation) for tensor in model.outputs}

    def rebuild(layer):
        if isinstance(layer, keras.Sequential):
            return keras.models.clone_model(layer)
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=rebuild)
        config = layer.get_config()
        if id(layer) not in outputs:
            config["dtype"] = compute.policy
        if isinstance(layer, keras.layers.BatchNormalization) and compute.sync_batchnorm:
            config["synchronized"] = True
        return layer.__class__.from_config(config)

    with compute.scope():
        copy = keras.models.clone_model(model, clone_function=rebuild)
        _copy_state(model, copy)
    return copy


@contextmanager
def _multi_worker_fixes(model: keras.Model, train_data):
    """Two places where Keras 3.15's fit() fails under MultiWorkerMirroredStrategy
    (keras-team/keras#20585), mended for the duration of one fit:

    - before the first step it reduces a whole nested batch across workers only to learn
      its shapes; the dataset's element_spec gives them without a reduction;
    - it averages each step's scalar metrics "along axis 0", which scalars lack; they
      are averaged across workers without an axis.
    """
    from keras.src.backend.tensorflow import trainer as tf_trainer

    reduce_per_replica = tf_trainer.reduce_per_replica

    def reduce_scalars_without_axis(values, strategy, reduction):
        def one(value):
            if reduction in ("auto", "mean") and value.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return reduce_per_replica(value, strategy, reduction)

        return keras.tree.map_structure(one, values)

    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: model._symbolic_build(
        data_batch=train_data.element_spec
    )
    tf_trainer.reduce_per_replica = reduce_scalars_without_axis
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = reduce_per_replica
        del model._maybe_symbolic_build


# Room for this many draws per epoch in each generator before the next epoch's stream.
_DRAWS_PER_EPOCH = 2**20


class EpochSeeds(keras.callbacks.Callback):
    """At the start of each epoch, sets the random generators of the model's layers
    (dropout, augmentation inside the model) to (their seed, the epoch), and the training
    data's ``training_epoch`` (its shuffling and augmentation; see
    ``data.input_pipeline``) to the epoch. What an epoch draws then depends on the seeds
    and the epoch alone: a training resumed at epoch k draws what an uninterrupted one
    draws, and no training draws differently for another having run before it."""

    def __init__(self, train_data):
        super().__init__()
        self.data_epoch = getattr(train_data, "training_epoch", None)

    def on_epoch_begin(self, epoch, logs=None):
        for state in seed_states(self.model):
            # The first half of a state is the generator's seed; draws count in the second.
            seed = ops.convert_to_numpy(state)[0]
            state.assign(np.array([seed, epoch * _DRAWS_PER_EPOCH], dtype=state.dtype))
        if self.data_epoch is not None:
            self.data_epoch.assign(epoch)


@dataclass(frozen=True)
class TrainingOptions:
    """The options of one ``train`` call: a training parameter block (``pretrain``,
    ``finetune.training``, a phase, ``baseline``...). Defaults, checks and meaning live
    here and nowhere else: the parameter schema validates blocks with this class.

    epochs, learning_rate: required by ``train`` (a shared block may leave them to its
        phases); ``learning_rate`` is per replica (the linear scaling rule).
    optimizer: ``adamw`` | ``sgd`` (Nesterov ``momentum``); ``weight_decay`` skips
        BatchNorm and biases.
    schedule: ``cosine`` (after ``warmup_epochs`` of linear warm-up) | ``one_cycle`` |
        ``plateau`` (divide by ``1 / plateau_factor`` after ``plateau_patience`` epochs
        without a better validation loss; no warm-up).
    label_smoothing: in [0, 1); gradient_clip_norm: global norm, or null.
    ema_momentum: keep an exponential moving average of the weights (null: off).
    early_stopping_patience: epochs without a better validation loss before stopping;
        the best weights are restored (null: off; not with ``ema_momentum``).
    ``auto`` (learning_rate, early_stopping_patience) is chosen by the recipe first.
    """

    epochs: int | None = None
    learning_rate: float | str | None = None
    optimizer: str = "adamw"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    gradient_clip_norm: float | None = None
    ema_momentum: float | None = None
    early_stopping_patience: int | str | None = None
    plateau_patience: int = 3
    plateau_factor: float = 0.1

    # Unknown keys are typos (pydantic reads this when the schema validates a block).
    __pydantic_config__ = {"extra": "forbid"}

    def __post_init__(self):
        check_count("epochs", self.epochs, minimum=1, optional=True)
        if self.learning_rate not in (None, "auto"):
            check_range("learning_rate", self.learning_rate, 0.0, math.inf, open_low=True)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_range("momentum", self.momentum, 0.0, 1.0, closed_high=False)
        check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_count("warmup_epochs", self.warmup_epochs, minimum=0)
        check_range("label_smoothing", self.label_smoothing, 0.0, 1.0, closed_high=False)
        if self.gradient_clip_norm is not None:
            check_range("gradient_clip_norm", self.gradient_clip_norm, 0, math.inf, open_low=True)
        if self.ema_momentum is not None:
            check_range("ema_momentum", self.ema_momentum, 0.0, 1.0, closed_high=False)
        if self.early_stopping_patience != "auto":
            check_count("early_stopping_patience", self.early_stopping_patience, 1, True)
        check_count("plateau_patience", self.plateau_patience, minimum=1)
        check_range("plateau_factor", self.plateau_factor, 0.0, 1.0, False, open_low=True)
        if self.schedule == "plateau" and self.warmup_epochs:
            raise ParameterError("schedule='plateau' takes no warm-up: set warmup_epochs to 0")
        if self.ema_momentum is not None and self.early_stopping_patience not in (None, "auto"):
            raise ParameterError(
                "ema_momentum and early_stopping_patience cannot be combined: early stopping "
                "would restore raw weights over their average; set one of them to null"
            )

    def updated(self, changes: dict) -> TrainingOptions:
        """These options with ``changes`` (a parameter block's keys) applied."""
        allowed = [f.name for f in fields(self)]
        if unknown := sorted(set(changes) - set(allowed)):
            raise ParameterError(f"unknown key(s) {unknown}; allowed: {allowed}")
        return replace(self, **changes)


def train(
    model: keras.Model,
    train_data,
    val_data=None,
    *,
    options: TrainingOptions,
    compute: Compute | None = None,
    class_weight: dict[int, float] | None = None,
    callbacks: list | None = None,
    checkpoint: TrainingCheckpoint | None = None,
    verbose: int | str = "auto",
) -> pd.DataFrame | list[dict[str, float]]:
    """Compile ``model`` and fit it as ``options`` say; return one row of metrics per
    epoch: a DataFrame, or the rows themselves where pandas is not installed (the
    training bench's minimal install).

    Labels may be class indices or one-hot/soft rows (MixUp, CutMix): the loss follows.
    A diverging training (a loss NaN, infinite or far above its start; weights beyond a
    sane size) stops with ``TrainingDiverged`` before its epoch is saved. With
    ``checkpoint`` the state is saved as training goes, and a call with the same model
    and settings resumes from it (a finished training is not repeated; a diverged one
    never counts as finished). ``verbose='auto'``: a progress bar per
    epoch on a terminal, none under ``CI`` or in a log file. ``compute`` sets precision,
    XLA, steps per execution and distribution; on several replicas the learning rate
    (given for one replica's batch) is scaled by their number.
    ``model`` ends with the trained weights, in its own precision.
    """
    compute = compute or Compute()
    _check_trainable(options)
    steps_per_epoch = _batches_per_epoch(train_data)
    trained = _model_for(model, compute)
    callbacks = [*(callbacks or []), *_option_callbacks(options, val_data)]
    compile_settings = _compile_settings(options, compute, train_data, steps_per_epoch)
    # keras.distribution (JAX) lays out data and optimizer variables only inside its scope.
    with compute.scope():
        trained.compile(**compile_settings())
        settings = _checkpoint_settings(options, compute, class_weight, steps_per_epoch)
        snapshot, identity = _restore(trained, checkpoint, settings)
        if snapshot.finished:
            logger.info("already trained (checkpoint %s): not repeated", checkpoint.directory)
        else:
            _fit(
                trained,
                train_data,
                val_data,
                options,
                compute,
                class_weight,
                callbacks,
                snapshot,
                checkpoint,
                identity,
                verbose,
            )
    if trained is not model:
        _copy_state(trained, model)
        model.compile(**compile_settings())  # compiled like the copy, so that evaluate() works
    try:  # here, not at the top: the training bench runs with keras, jax and numpy only
        import pandas as pd
    except ModuleNotFoundError:
        return snapshot.history
    return pd.DataFrame(snapshot.history)


def _check_trainable(options: TrainingOptions) -> None:
    """What a shared block may leave to its phases or the recipe, one training needs."""
    if options.epochs is None or options.learning_rate in (None, "auto"):
        raise ValueError(
            f"epochs={options.epochs!r}, learning_rate={options.learning_rate!r}: training "
            "needs both"
        )
    if options.early_stopping_patience == "auto":
        raise ValueError("early_stopping_patience='auto' is the recipe's to choose")


def _option_callbacks(options: TrainingOptions, val_data) -> list[keras.callbacks.Callback]:
    """The callbacks ``options`` ask for: the plateau schedule and early stopping."""
    callbacks = []
    if options.schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss" if val_data is not None else "loss",
                factor=options.plateau_factor,
                patience=options.plateau_patience,
            )
        )
    if options.early_stopping_patience:
        if val_data is None:
            raise ValueError("early_stopping_patience needs validation data")
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=options.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    return callbacks


def _compile_settings(options: TrainingOptions, compute: Compute, train_data, steps_per_epoch):
    """A function giving ``compile``'s arguments, each call with a new optimizer."""

    def settings() -> dict:
        return {
            "optimizer": make_optimizer(
                options.optimizer,
                learning_rate=options.learning_rate * compute.replicas,
                steps=options.epochs * steps_per_epoch,
                warmup_steps=options.warmup_epochs * steps_per_epoch,
                schedule=options.schedule,
                weight_decay=options.weight_decay,
                momentum=options.momentum,
                gradient_clip_norm=options.gradient_clip_norm,
                ema_momentum=options.ema_momentum,
                loss_scaling=compute.policy == "mixed_float16",
            ),
            "loss": make_loss(_label_rank(train_data), options.label_smoothing),
            "metrics": ["accuracy"],
            "jit_compile": compute.jit_compile,
            "steps_per_execution": compute.steps_per_execution,
        }

    return settings


def _checkpoint_settings(
    options: TrainingOptions, compute: Compute, class_weight, steps_per_epoch
) -> dict:
    """The settings a checkpoint must have been made under to be resumed."""
    plateau = ("plateau_patience", "plateau_factor")
    return {
        **{key: value for key, value in asdict(options).items() if key not in plateau},
        "plateau": [getattr(options, key) for key in plateau]
        if options.schedule == "plateau"
        else None,
        "class_weight": class_weight,
        "batches_per_epoch": steps_per_epoch,
        "policy": compute.policy,
        "replicas": compute.replicas,
    }


def _restore(
    trained: keras.Model, checkpoint: TrainingCheckpoint | None, settings: dict
) -> tuple[Snapshot, str]:
    """Where training starts: the checkpoint's snapshot if it was made by this model under
    these ``settings``, else the beginning; and the fingerprint it is saved under."""
    if checkpoint is None:
        return Snapshot(), ""
    identity = fingerprint(trained, {**settings, "context": checkpoint.context})
    checkpoint.bind(identity)
    trained.optimizer.build(trained.trainable_variables)
    return checkpoint.restore(trained, identity), identity


def _fit(
    trained,
    train_data,
    val_data,
    options,
    compute,
    class_weight,
    callbacks,
    snapshot,
    checkpoint,
    identity,
    verbose,
) -> None:
    """``trained.fit`` from the snapshot's epoch, recording each epoch into it."""
    if snapshot.epoch or snapshot.step:
        logger.info(
            "resuming from epoch %d (step %d) of %d, checkpoint %s",
            snapshot.epoch,
            snapshot.step,
            options.epochs,
            checkpoint.directory,
        )
    recorder = EpochRecorder(snapshot, options.epochs, checkpoint, identity, options.learning_rate)
    fixes = compute.distribution == "multi_worker"
    with _multi_worker_fixes(trained, train_data) if fixes else nullcontext():
        trained.fit(
            train_data,
            validation_data=val_data,
            epochs=options.epochs,
            initial_epoch=snapshot.epoch,
            class_weight=class_weight,
            # EpochSeeds first, before anything draws; the recorder last: it records
            # what the others log.
            callbacks=[EpochSeeds(train_data), *callbacks, recorder],
            shuffle=False,  # datasets arrive shuffled by the input pipeline
            # Keras's per-epoch progress bar (with ETA) where a person watches.
            verbose=int(show_progress(sys.stdout)) if verbose == "auto" else verbose,
        )
    if checkpoint is not None:
        snapshot.finished = True
        checkpoint.save(trained, identity, snapshot)
