"""Transfer learning: a new head, then phases that unfreeze the backbone from the top."""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import keras
import numpy as np

if TYPE_CHECKING:  # pandas is imported where used: the training bench runs without it
    import pandas as pd

from resnet_finetune.errors import ParameterError
from resnet_finetune.models import BackboneSpec, build_classifier
from resnet_finetune.training.checkpoints import TrainingCheckpoint, fingerprint
from resnet_finetune.training.compute import Compute
from resnet_finetune.training.engine import TrainingOptions, _batches_per_epoch, train

logger = logging.getLogger(__name__)

_STAGE = re.compile(r"^(conv\d+)_block")
# What a phase sets besides training options.
PHASE_KEYS = ("name", "unfreeze_stages", "train_batchnorm", "feature_views")
# What a baseline block sets besides training options: the network it trains from scratch
# (a key left out: the fine-tuned network's own value).
BASELINE_NETWORK_KEYS = ("architecture", "width", "image_size", "preprocessing")
# Cached features are images x views x feature size float32: a ResNet-50 gives 2,048
# floats (8 KiB) per image and view, so 2 GiB holds about 260,000 image-views — tens of
# thousands of images with a few views. Beyond it, a frozen phase trains through the model.
FEATURE_BUDGET_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Phase:
    """One fine-tuning phase: ``unfreeze_stages`` (0 keeps the backbone frozen, a number
    counts residual stages from the top, ``all`` includes the stem), ``train_batchnorm``
    (BatchNorm of the unfrozen stages follows the new data) and its training options.

    ``feature_views``: while the backbone is frozen its output does not change, so each
    image goes through it once and the head trains on those cached features (the
    feature-extraction route of the Keras transfer-learning guide). With augmentation on,
    that many augmented views of each image are cached (at most one per epoch) and each
    epoch trains on one of them; with augmentation off, the plain image once. Phases that
    unfreeze part of the backbone train through the whole model and ignore it."""

    options: TrainingOptions
    name: str | None = None
    unfreeze_stages: int | str = 0
    train_batchnorm: bool = False
    feature_views: int = 2

    def __post_init__(self):
        stages = self.unfreeze_stages
        if stages != "all" and (
            not isinstance(stages, int) or isinstance(stages, bool) or stages < 0
        ):
            raise ParameterError(f"unfreeze_stages={stages!r} must be 'all' or an integer >= 0")
        if not isinstance(self.train_batchnorm, bool):
            raise ParameterError(f"train_batchnorm={self.train_batchnorm!r} must be true or false")
        views = self.feature_views
        if not isinstance(views, int) or isinstance(views, bool) or views < 1:
            raise ParameterError(f"feature_views={views!r} must be an integer >= 1")


def make_phases(shared: TrainingOptions, phases: list[dict]) -> list[Phase]:
    """The ``finetune.phases`` blocks as phases: each phase's training keys override the
    shared ``finetune.training`` options."""
    if not phases:
        raise ParameterError("finetune.phases is empty: give at least one phase")
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
            raise ParameterError(f"finetune.phases[{index}]: {error}") from None
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
        raise ParameterError(f"baseline: {error}") from None


def baseline_network(
    backbone: BackboneSpec, baseline: dict
) -> tuple[BackboneSpec, tuple[int, int] | None]:
    """The network the from-scratch baseline trains: ``backbone`` with random weights and
    the network keys ``baseline`` gives (``BASELINE_NETWORK_KEYS``), and the size it
    resizes the images to inside the model (``baseline.image_size``; None: the task's)."""
    changes = {k: baseline[k] for k in BASELINE_NETWORK_KEYS if k in baseline and k != "image_size"}
    size = baseline.get("image_size")
    return replace(backbone, weights="none", **changes), tuple(size) if size else None


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
        raise ParameterError(
            f"unfreeze_stages={stages!r} is not allowed; allowed: 0-{len(ordered)} or 'all'"
        )
    backbone.trainable = True
    for layer in backbone.layers:
        in_scope = stages == "all" or stage_of.get(layer.name) in chosen
        is_batchnorm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = in_scope and (train_batchnorm or not is_batchnorm)
    return sorted(chosen, key=lambda s: int(s[4:]))


class ViewBatches(keras.utils.PyDataset):
    """Batches of ``arrays`` (each shaped ``(views, samples, ...)``, one entry per pass
    over the data), for ``fit``: each epoch takes view ``epoch mod views`` of every sample
    once, in an order drawn from ``seed`` and the epoch; ``seed=None`` keeps the order."""

    def __init__(self, *arrays: np.ndarray, batch_size: int, seed: int | None = None):
        super().__init__()
        self.arrays, self.batch_size, self.seed = arrays, batch_size, seed
        self.views, self.samples = arrays[0].shape[:2]
        self.epoch, self.view, self.order = -1, 0, np.arange(self.samples)

    def __len__(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def on_epoch_begin(self):
        self.epoch += 1
        self.view = self.epoch % self.views
        if self.seed is not None:
            self.order = np.random.default_rng([self.seed, self.epoch]).permutation(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return tuple(array[self.view, rows] for array in self.arrays)


@dataclass(frozen=True)
class _CachedPhase:
    """A frozen phase's stand-in for the classifier: the head alone, its feature batches
    and what identifies the features (for the phase's checkpoint)."""

    head: keras.Model
    train: ViewBatches
    val: ViewBatches | None
    identity: str


def _feature_extractor(model: keras.Model, backbone: keras.Model) -> keras.Model:
    """The classifier from (augmented, float32) images to the backbone's output: its own
    preprocessing and backbone layers, without augmentation and head."""
    images = keras.Input(model.input_shape[1:], dtype="float32", name="image")
    return keras.Model(images, backbone(model.get_layer("preprocessing")(images)))


def _head_model(model: keras.Model, width: int) -> keras.Model:
    """Features → the classifier's own dropout and ``head`` layers: training it trains
    the classifier's head, so the next phase starts from it."""
    features = keras.Input((width,), name="features")
    x = features
    if any(layer.name == "head_dropout" for layer in model.layers):
        x = model.get_layer("head_dropout")(x)
    return keras.Model(features, model.get_layer("head")(x), name="head_on_features")


def _extract(extractor, data, augmentation, views: int, budget_rows: int | None = None):
    """``views`` passes of ``data`` through ``augmentation`` (when given, in training
    mode) and ``extractor``: ``(features, labels, batch size)``, the arrays shaped
    ``(views, images, ...)``; ``None`` when they would hold more than ``budget_rows``
    image-views (known after the first batch: every batch but the last is full)."""
    batches = _batches_per_epoch(data)  # refuses data without a known number of batches
    features = labels = None
    for view in range(views):
        filled = 0
        for images, batch_labels in data:
            if augmentation is not None:
                images = augmentation(images, training=True)
            batch_features = extractor.predict_on_batch(keras.ops.cast(images, "float32"))
            batch_labels = keras.ops.convert_to_numpy(batch_labels)
            if features is None:
                batch_size = len(batch_labels)
                rows = batches * batch_size
                if budget_rows is not None and rows * views > budget_rows:
                    return None
                features = np.empty((views, rows, batch_features.shape[-1]), "float32")
                labels = np.empty((views, rows, *batch_labels.shape[1:]), batch_labels.dtype)
            features[view, filled : filled + len(batch_labels)] = batch_features
            labels[view, filled : filled + len(batch_labels)] = batch_labels
            filled += len(batch_labels)
    return features[:, :filled], labels[:, :filled], batch_size


def _cache_features(
    model, backbone, train_data, val_data, *, augmentation, views: int, seed: int, jit_compile
) -> _CachedPhase | None:
    """The frozen phase on cached features; ``None`` when they would exceed
    ``FEATURE_BUDGET_BYTES``. Training images: ``views`` passes (augmented as training
    sees them); validation images: once, plain. BatchNorm of the frozen backbone runs in
    inference mode, so the features are those the whole model computes in ``fit``."""
    extractor = _feature_extractor(model, backbone)
    extractor.compile(jit_compile=jit_compile)
    width = extractor.output_shape[-1]
    budget_rows = FEATURE_BUDGET_BYTES // (4 * width)
    val = None
    if val_data is not None:
        val = _extract(extractor, val_data, None, 1, budget_rows)
        if val is None:
            return None
        budget_rows -= val[0].shape[1]
    train = _extract(extractor, train_data, augmentation, views, budget_rows)
    if train is None:
        return None
    logger.info(
        "backbone frozen: the head trains on its features, computed once for %d image(s) "
        "x %d view(s)",
        train[0].shape[1],
        views,
    )
    identity = fingerprint(
        extractor, {"views": views, "augmentation": augmentation and augmentation.get_config()}
    )
    return _CachedPhase(
        _head_model(model, width),
        ViewBatches(*train[:2], batch_size=train[2], seed=seed),
        None if val is None else ViewBatches(*val[:2], batch_size=val[2]),
        identity,
    )


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
    augmented_data: bool = False,
    class_weight: dict[int, float] | None = None,
    compute: Compute | None = None,
    checkpoint: TrainingCheckpoint | None = None,
    seed: int = 0,
) -> tuple[keras.Model, pd.DataFrame]:
    """Fine-tune ``backbone`` with a new head, one ``train`` call per phase (``make_phases``).
    A phase with the backbone frozen trains the head on cached backbone features
    (``Phase.feature_views``; ``augmented_data``: ``train_data`` is augmented, so it
    differs from one pass to the next; ``seed`` orders the cached features each epoch);
    the others train through the whole model. With ``checkpoint`` each phase keeps its
    own (``phase-1``, ...): a resumed run skips finished phases. Returns the model and
    the history with a ``phase`` column.
    """
    compute = compute or Compute()
    model = build_classifier(
        backbone,
        num_classes,
        image_size=image_size,
        dropout=head_dropout,
        preprocessing=preprocessing,
        augmentation=augmentation,
    )
    augmented = augmented_data or augmentation is not None
    histories = []
    for index, phase in enumerate(phases):
        set_trainable_stages(backbone, phase.unfreeze_stages, phase.train_batchnorm)
        cached = None
        # Under multi_worker, fit needs a tf.data dataset (engine._multi_worker_fixes).
        if phase.unfreeze_stages == 0 and compute.distribution != "multi_worker":
            views = min(phase.feature_views, phase.options.epochs or 1) if augmented else 1
            cached = _cache_features(
                model,
                backbone,
                train_data,
                val_data,
                augmentation=augmentation,
                views=views,
                seed=seed,
                jit_compile=compute.jit_compile,
            )
            if cached is None:
                logger.info(
                    "backbone frozen, but its features would exceed %d bytes: the head "
                    "trains through the whole model",
                    FEATURE_BUDGET_BYTES,
                )
        # The features' identity joins the checkpoint's: the head model alone does not
        # show which backbone, preprocessing and views made them.
        context = {"features": cached.identity} if cached else {}
        history = train(
            cached.head if cached else model,
            cached.train if cached else train_data,
            cached.val if cached else val_data,
            options=phase.options,
            class_weight=class_weight,
            compute=compute,
            checkpoint=checkpoint and checkpoint.child(f"phase-{index + 1}", **context),
        )
        history.insert(0, "phase", phase.name or f"phase{index + 1}")
        histories.append(history)
    if cached:  # compiled like the last phase's model, so that evaluate() works
        model.compile(loss=cached.head.loss, metrics=["accuracy"])
    import pandas as pd  # not at the top: the training bench runs without pandas

    history = pd.concat(histories, ignore_index=True)
    history.insert(1, "global_epoch", range(1, len(history) + 1))
    return model, history
