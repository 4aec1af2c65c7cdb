"""Resumable training: the state of one ``train`` call, kept on disk as it goes.

A checkpoint folder holds numbered snapshots (``state-000003/``: model and optimizer
weights — the optimizer's step counter is the schedule's position —, the epochs done and
their metrics) and a ``latest`` file naming the newest complete one. The random
generators need no saving: training sets them from the epoch (``engine.EpochSeeds``). A
snapshot is written in full before ``latest`` is replaced (an atomic rename), so a process
killed while writing leaves the previous snapshot in force.

A training's folder is named by its identity: the model's layers, its starting weights,
every training setting and the caller's context (the data's hash, the seed, the task's
settings). Another run — other data, another seed, another pretrained
model — gets another folder, so it can never resume this one. A process holds a lock on
the folder it trains in; a second process with the same identity at the same time
trains in a folder of its own instead of sharing snapshots. A run cleans up only the
folders it trained in (``clear_trained``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from resnet_finetune.checks import check_count
from resnet_finetune.errors import ParameterError
from resnet_finetune.files import write_text_atomically
from resnet_finetune.locks import FileLock
from resnet_finetune.models.resnet import all_layers

logger = logging.getLogger(__name__)

_LATEST = "latest"


@dataclass
class Snapshot:
    """What a checkpoint says of its training: epochs done (and steps into the next),
    the per-epoch metrics so far, whether training had finished, and the loss of its
    first batch (where the training started: the divergence guard's reference)."""

    epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)
    finished: bool = False
    start_loss: float | None = None


def weights_digest(model: keras.Model) -> str:
    """SHA-256 of every weight's values, in the model's order: where training starts
    (a pretrained model, the weights a previous phase ended with, a seeded
    initialisation)."""
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    return digest.hexdigest()


def fingerprint(model: keras.Model, settings: dict) -> str:
    """Identifies a training: the model's layers (configuration, random seeds, trainable
    flags; not their names, which Keras numbers per process), its starting weights and
    every setting that changes what it learns (``settings``, with the caller's context)."""
    layers = [
        [
            type(layer).__name__,
            layer.trainable,
            {} if isinstance(layer, keras.Model) else layer.get_config() | {"name": None},
        ]
        for layer in all_layers(model)
    ]
    text = json.dumps([layers, weights_digest(model), settings], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CheckpointOptions:
    """The ``checkpoints`` parameter block: training state (weights, optimizer, schedule
    position, epoch, random generators) saved as it goes, one folder per training under
    ``dir``, so that the same command run again after an interruption resumes where it
    stopped; a run that finishes removes them.

    dir: where (null: no checkpoints); every_n_steps: also every N steps (long epochs; a
    resume then restarts that epoch from the saved weights), or null: each epoch only.
    """

    dir: str | None = "data/02_intermediate/checkpoints"
    every_n_steps: int | None = None

    __pydantic_config__ = {"extra": "forbid"}  # unknown keys are typos

    def __post_init__(self):
        check_count("every_n_steps", self.every_n_steps, minimum=1, optional=True)


# Folders this process trained in (and holds locks on), for ``clear_trained``.
_TRAINED: dict[Path, FileLock] = {}


class TrainingCheckpoint:
    """Where one kind of training (``pretrain``, ``finetune/phase-1``…) keeps its state:
    under ``root``, one folder per training identity, chosen by ``bind``. ``context``
    holds what the caller knows and the model does not (data hash, seed, the task's
    settings); it is part of the identity."""

    def __init__(
        self, root: str | Path, every_n_steps: int | None = None, context: dict | None = None
    ):
        if every_n_steps is not None and (not isinstance(every_n_steps, int) or every_n_steps < 1):
            raise ParameterError(
                f"checkpoints.every_n_steps={every_n_steps!r} must be a positive integer or null"
            )
        self.root = Path(root)
        self.every_n_steps = every_n_steps
        self.context = dict(context or {})
        self.directory = self.root  # until bound to an identity

    @classmethod
    def from_options(
        cls, options: CheckpointOptions, name: str, context: dict | None = None
    ) -> TrainingCheckpoint | None:
        """The ``name`` checkpoint under ``options`` (the ``checkpoints`` block); ``None``
        when its ``dir`` is null: no checkpoints."""
        if not options.dir:
            return None
        return cls(Path(options.dir) / name, options.every_n_steps, context)

    def bind(self, identity: str) -> Path:
        """Take the folder of the training ``identity`` (locked for this process) and
        return it. When another live process holds it — the same training running twice
        at once — this one trains in a private folder instead, without resuming."""
        folder = self.root / identity
        folder.mkdir(parents=True, exist_ok=True)
        if folder not in _TRAINED:
            lock = FileLock(folder / "lock")
            if not lock.acquire(blocking=False):
                logger.warning(
                    "another process is training %s right now: this run trains on its own "
                    "(no resume, no shared snapshots)",
                    folder,
                )
                folder = self.root / f"{identity}-pid{os.getpid()}"
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                lock = FileLock(folder / "lock")
                lock.acquire(blocking=False)
            _TRAINED[folder] = lock
        self.directory = folder
        return folder

    def restore(self, model: keras.Model, identity: str) -> Snapshot:
        """Load the newest snapshot of this training into ``model`` (compiled, its
        optimizer built) and return it; a fresh ``Snapshot`` when there is none. A folder
        written by other settings, or holding a training that diverged (written before
        the divergence guard knew it), is removed, with a warning."""
        pointer = self.directory / _LATEST
        if not pointer.is_file():
            return Snapshot()
        folder = self.directory / pointer.read_text().strip()
        state = json.loads((folder / "state.json").read_text())
        if state["fingerprint"] != identity:
            logger.warning(
                "checkpoint %s was written with other settings; training starts afresh",
                self.directory,
            )
            self.clear()
            return Snapshot()
        with warnings.catch_warnings():
            # Keras only warns when it skips variables that do not match: refuse instead.
            warnings.simplefilter("error")
            model.load_weights(folder / "model.weights.h5")
        snapshot = Snapshot(
            state["epoch"],
            state["step"],
            state["history"],
            state["finished"],
            state.get("start_loss"),
        )
        try:
            for row in snapshot.history:
                check_losses(row, f"epoch {row['epoch']}", model, snapshot.start_loss)
            check_weights(model, f"epoch {snapshot.epoch}")
        except TrainingDiverged as error:
            logger.warning(
                "checkpoint %s holds a diverged training (%s): training starts afresh",
                self.directory,
                error,
            )
            self.clear()
            return Snapshot()
        return snapshot

    def save(self, model: keras.Model, identity: str, snapshot: Snapshot) -> None:
        """Write ``snapshot`` with ``model``'s weights and optimizer state, atomically."""
        # A new folder each time, never the one ``latest`` names: the finished state has
        # the last epoch's numbers, and a resumed epoch reaches its saved step again.
        name = f"state-{snapshot.epoch:06d}-{snapshot.step:09d}-{time.time_ns()}"
        folder = self.directory / name
        folder.mkdir(parents=True)
        model.save_weights(folder / "model.weights.h5")
        state = {
            "fingerprint": identity,
            "epoch": snapshot.epoch,
            "step": snapshot.step,
            "finished": snapshot.finished,
            "history": snapshot.history,
            "start_loss": snapshot.start_loss,
        }
        (folder / "state.json").write_text(json.dumps(state, indent=1))
        write_text_atomically(self.directory / _LATEST, name)
        for old in self.directory.glob("state-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    def clear(self) -> None:
        """Remove this training's snapshots (the folder and its lock stay until
        ``clear_trained``)."""
        for path in self.directory.iterdir() if self.directory.is_dir() else ():
            if path.name != "lock":
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def child(self, name: str, **context) -> TrainingCheckpoint:
        """The checkpoint of one of several trainings (a phase, a network) under this
        one, with the same context and ``context`` added."""
        return TrainingCheckpoint(self.root / name, self.every_n_steps, {**self.context, **context})


def release_trained() -> None:
    """Forget (and unlock) the folders this process trained in, keeping them: a failed
    run's state for its next attempt."""
    for folder, lock in list(_TRAINED.items()):
        lock.release()
        del _TRAINED[folder]


def clear_trained() -> list[Path]:
    """Remove every checkpoint folder this process trained in (a finished run's own),
    release their locks and return them; other runs' folders are left alone."""
    removed = []
    for folder, lock in list(_TRAINED.items()):
        shutil.rmtree(folder, ignore_errors=True)
        lock.release()
        del _TRAINED[folder]
        removed.append(folder)
    return removed


class EpochRecorder(keras.callbacks.Callback):
    """Records each epoch's metrics into ``snapshot`` (continuing its history), stops
    training with ``TrainingDiverged`` when a loss, a weight or a BatchNorm statistic
    diverges (``check_losses``, ``check_weights``) — before anything is saved —, logs a
    line per epoch and, with a ``checkpoint``, saves after every epoch and every
    ``checkpoint.every_n_steps`` steps. ``learning_rate`` is named in the error."""

    def __init__(
        self,
        snapshot: Snapshot,
        epochs: int,
        checkpoint: TrainingCheckpoint | None = None,
        identity: str = "",
        learning_rate: float | None = None,
    ):
        super().__init__()
        self.snapshot, self.epochs = snapshot, epochs
        self.checkpoint, self.identity = checkpoint, identity
        self.learning_rate = learning_rate

    def _check(self, logs: dict | None, where: str) -> None:
        check_losses(logs, where, self.model, self.snapshot.start_loss, self.learning_rate)
        check_weights(self.model, where, self.learning_rate)

    def on_train_batch_end(self, batch, logs=None):
        fresh = (self.snapshot.epoch, self.snapshot.step, batch) == (0, 0, 0)
        if fresh and self.snapshot.start_loss is None and "loss" in (logs or {}):
            # The first batch's loss is computed before the first update. (With
            # steps_per_execution > 1 Keras reports batches in groups: no start is known,
            # and the uniform guess alone is the reference.)
            self.snapshot.start_loss = float(logs["loss"])
        every = self.checkpoint and self.checkpoint.every_n_steps
        if every and (batch + 1) % every == 0:
            self._check(logs, f"epoch {self.snapshot.epoch + 1}, step {batch + 1}")
            self.snapshot.step = batch + 1
            self.checkpoint.save(self.model, self.identity, self.snapshot)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        self._check(row, f"epoch {epoch + 1}")
        self.snapshot.history.append(row)
        self.snapshot.epoch, self.snapshot.step = epoch + 1, 0
        logger.info(
            "epoch %d/%d: %s",
            epoch + 1,
            self.epochs,
            ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"),
        )
        if self.checkpoint:
            self.checkpoint.save(self.model, self.identity, self.snapshot)


class TrainingDiverged(FloatingPointError):
    """Training diverged: a loss became NaN, infinite or far above where it started, or a
    weight or a BatchNorm statistic became NaN, infinite or absurdly large."""


# The divergence guard's thresholds, all here. A cross-entropy starts near ln(classes)
# (a uniform guess) and a sane training stays within a small multiple of it or of its
# start: the digits demo's first from-scratch epoch has val_loss 4.6 with 5 classes (2.8
# times ln 5), and Adam at a learning rate of 1.0 on a tiny model gave val_loss 218 with 3
# classes (198 times ln 3) without running away. Learning rates of 1e2 and more give
# losses of 1e4 to 1e27. A loss over 1000 times the reference is divergence.
LOSS_FACTOR_LIMIT = 1e3
# He-initialised weights are O(0.1) and trained ones stay O(1-10) (12 for SGD at a
# learning rate of 1.0, 557 for Adam at 100 on a tiny model), while one Adam step at a
# learning rate of 1e6 moves every weight by about 1e6. BatchNorm's moving variance is a
# squared magnitude: its limit is the square.
WEIGHT_LIMIT = 1e5


def _advice(learning_rate: float | None) -> str:
    rate = "learning_rate" if learning_rate is None else f"learning_rate (now {learning_rate:g})"
    return (
        f"Lower this training's {rate}, set gradient_clip_norm, or check the input data; "
        "the last good checkpoint is kept"
    )


def _classes(model: keras.Model) -> int:
    """The class count of ``model``'s output (one sigmoid unit, or a subclassed model
    without known outputs: two classes, the strictest reference)."""
    outputs = getattr(model, "outputs", None)
    return max(int(outputs[0].shape[-1] or 2), 2) if outputs else 2


def _judged(model: keras.Model) -> list[tuple[keras.Variable, float]]:
    """The variables training changes, with their limits: trainable weights and the
    moving statistics of BatchNorm layers that learn. Frozen ones are what the caller
    gave (an input ``Normalization`` may hold raw pixel variances)."""
    judged = [(variable, WEIGHT_LIMIT) for variable in model.trainable_variables]
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
            judged += [(layer.moving_mean, WEIGHT_LIMIT), (layer.moving_variance, WEIGHT_LIMIT**2)]
    return judged


def check_weights(model: keras.Model, where: str, learning_rate: float | None = None) -> None:
    """Raise ``TrainingDiverged`` naming the first non-finite variables, or else those
    beyond ``WEIGHT_LIMIT``. The weights and BatchNorm statistics cannot hide a NaN the
    way a loss can: a probability clipped inside the cross-entropy turns NaN outputs into
    a finite loss on some CPUs."""
    bad = [
        variable.path
        for variable in model.weights
        if not bool(keras.ops.all(keras.ops.isfinite(variable)))
    ]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise TrainingDiverged(
            f"training diverged at {where}: non-finite values in {shown}. {_advice(learning_rate)}"
        )
    large = {}
    for variable, limit in _judged(model):
        largest = float(keras.ops.max(keras.ops.abs(variable)))
        if largest > limit:
            large[variable.path] = largest
    if large:
        shown = ", ".join(f"{path} ({value:.3g})" for path, value in list(large.items())[:3])
        more = f" and {len(large) - 3} more" if len(large) > 3 else ""
        raise TrainingDiverged(
            f"training diverged at {where}: values beyond {WEIGHT_LIMIT:.0e} (a variance beyond "
            f"{WEIGHT_LIMIT**2:.0e}) in {shown}{more}. {_advice(learning_rate)}"
        )


def check_losses(
    logs: dict | None,
    where: str,
    model: keras.Model,
    start_loss: float | None = None,
    learning_rate: float | None = None,
) -> None:
    """Raise ``TrainingDiverged`` naming ``where`` and the values if a loss is not finite
    or is over ``LOSS_FACTOR_LIMIT`` times the larger of ``start_loss`` (the training's
    first batch) and a uniform guess's cross-entropy, ln(classes of ``model``)."""
    losses = {key: float(value) for key, value in (logs or {}).items() if key.endswith("loss")}
    bad = {key: value for key, value in losses.items() if not math.isfinite(value)}
    if bad:
        raise TrainingDiverged(f"training diverged at {where}: {bad}. {_advice(learning_rate)}")
    classes = _classes(model)
    reference = max(math.log(classes), start_loss or 0.0)
    high = {key: value for key, value in losses.items() if value > LOSS_FACTOR_LIMIT * reference}
    if high:
        shown = ", ".join(f"{key}={value:.3g}" for key, value in high.items())
        start = "unknown" if start_loss is None else f"{start_loss:.3g}"
        raise TrainingDiverged(
            f"training diverged at {where}: {shown}, over {LOSS_FACTOR_LIMIT:g} times "
            f"{reference:.3g}, the larger of the training's starting loss ({start}) and a "
            f"uniform guess's ln({classes} classes) = {math.log(classes):.3g}. "
            f"{_advice(learning_rate)}"
        )
