"""tf.data input: parallel decode and resize, cache, shuffle, batch, prefetch.

The one module of the project that builds input pipelines with TensorFlow. Images leave
it as uint8 so that normalisation happens on the device, inside the model.

The randomness of a training dataset (its order, its augmentation, the choice between
MixUp and CutMix) is a function of its seed, the epoch and the batch, never of how often
it was read before: a shuffled dataset carries a ``training_epoch`` variable, which
training sets at the start of each epoch (``training.engine``). So a training resumed at
epoch k reads what an uninterrupted one reads at epoch k, and two trainings of one
process read the same batches whichever runs first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from resnet_finetune.checks import check_choice, check_count
from resnet_finetune.errors import ParameterError
from resnet_finetune.models.resnet import seed_states

# One decoding thread per core from the first batch on. tf.data's autotuning starts low
# and ramps up, and on a short epoch it was seen to settle on about one busy core of two.
PARALLEL_CALLS = os.cpu_count() or 1
RESIZE_MODES = ("squash", "centre_crop", "pad")
CACHE_MODES = ("none", "memory", "disk")
# libjpeg decodes at 1/2, 1/4 or 1/8 scale, skipping most of the inverse DCT and of
# the colour upsampling: a large JPEG bound for a small input is decoded small.
_JPEG_RATIOS = (1, 2, 4, 8)
_JPEG_FORMATS = ("JPEG", "MPO")
# Bump when the pixels this module produces change, so that old disk caches are not read.
_PIXEL_FORMAT_VERSION = 2


def _decoding_plan(rows: pd.DataFrame, size: tuple[int, int], mode: str):
    """Per image, from the manifest and before any pixel is decoded: which decoder
    (a JPEG scale, or the generic one) and which resize method (one ``switch_case``
    branch, so that no per-image control flow runs in the graph), and the size to
    resize to (smaller than ``size`` only when padding)."""
    height, width = rows["height"].to_numpy(float), rows["width"].to_numpy(float)
    target_h, target_w = float(size[0]), float(size[1])
    resize_h, resize_w = np.full(len(rows), target_h), np.full(len(rows), target_w)
    if mode == "centre_crop":
        scale = np.minimum(height / target_h, width / target_w)
        height, width = target_h * scale, target_w * scale
    elif mode == "pad":
        fit = np.minimum(target_h / height, target_w / width)
        resize_h = np.clip(np.round(height * fit), 1, target_h)
        resize_w = np.clip(np.round(width * fit), 1, target_w)
    coverage = np.minimum(height / resize_h, width / resize_w)
    is_jpeg = rows["format"].isin(_JPEG_FORMATS).to_numpy()
    ratio_index = np.where(
        is_jpeg, np.searchsorted(_JPEG_RATIOS, np.maximum(coverage, 1), side="right") - 1, 0
    )
    decoder = np.where(is_jpeg, ratio_index, len(_JPEG_RATIOS))
    # Bilinear down to half the size (little aliasing; a JPEG is decoded within 2× of
    # its target); area averaging for larger reductions.
    area = coverage / np.asarray(_JPEG_RATIOS)[ratio_index] > 2.0
    branch = (decoder * 2 + area).astype("int32")
    return branch, np.stack([resize_h, resize_w], axis=1).astype("int32")


def _centre_crop(image, size):
    """The largest centred region of ``image`` with the aspect ratio of ``size``."""
    shape = tf.cast(tf.shape(image)[:2], tf.float64)
    target = tf.constant(size, tf.float64)
    crop = tf.cast(tf.round(target * tf.reduce_min(shape / target)), tf.int32)
    offset = (tf.shape(image)[:2] - crop) // 2
    return tf.image.crop_to_bounding_box(image, offset[0], offset[1], crop[0], crop[1])


def _branch(plan_branch: int, data, resize_shape, size, mode):
    """Decode and resize one image as ``_decoding_plan``'s ``plan_branch`` says."""
    decoder, area = divmod(plan_branch, 2)
    if decoder < len(_JPEG_RATIOS):
        image = tf.io.decode_jpeg(data, channels=3, ratio=_JPEG_RATIOS[decoder])
    else:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    if mode == "centre_crop":
        image = _centre_crop(image, size)
    resized = tf.image.resize(image, resize_shape, method="area" if area else "bilinear")
    # Both methods average pixels, so values stay in [0, 255]: +0.5 then cast rounds.
    return tf.cast(resized + 0.5, tf.uint8)


def load_image(path, choice, resize_to, *, branches: list[int], size: tuple[int, int], mode: str):
    """One file as a ``size`` uint8 RGB image, resized by ``mode``: ``branches[choice]``
    of ``_decoding_plan`` and its ``resize_to``. Only the branches the data needs are
    built; with one, the graph has no control flow at all."""
    data = tf.io.read_file(path)
    resize_shape = resize_to if mode == "pad" else size
    if len(branches) == 1:
        image = _branch(branches[0], data, resize_shape, size, mode)
    else:
        image = tf.switch_case(
            choice,
            [lambda b=b: _branch(b, data, resize_shape, size, mode) for b in branches],
        )
    if mode == "pad":
        offset = (tf.constant(size) - tf.shape(image)[:2]) // 2
        return tf.image.pad_to_bounding_box(image, offset[0], offset[1], size[0], size[1])
    image.set_shape([*size, 3])
    return image


def _cache_file(rows: pd.DataFrame, size, mode: str, cache_dir: str | Path) -> str:
    """A disk-cache name that changes whenever the pixels it would hold change."""
    key = json.dumps(
        [
            _PIXEL_FORMAT_VERSION,
            tf.__version__,
            list(size),
            mode,
            rows[["read_path", "sha256"]].to_numpy().tolist(),
        ]
    )
    path = Path(cache_dir) / hashlib.sha256(key.encode()).hexdigest()[:20]
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.with_suffix(".index").exists():
        # A run killed while writing leaves a lock and partial shards; start that cache over.
        for leftover in path.parent.glob(f"{path.name}*"):
            leftover.unlink()
    return str(path)


@dataclass(frozen=True)
class InputOptions:
    """How a task's images become batches: the ``<task>.input`` parameter block (for a
    user's folder the recipe chooses ``image_size``, ``batch_size`` and ``cache``).

    image_size: (height, width) of every image after resizing.
    batch_size: images per batch, per training replica.
    resize: how an image reaches that size: ``squash`` (stretched), ``centre_crop`` (the
        centre cut to its aspect ratio) or ``pad`` (letter-boxed).
    cache: ``memory`` keeps decoded images in RAM after the first epoch; ``disk`` writes
        them under the run's cache folder, where later epochs and later runs on the same
        images read them back; ``none`` decodes every epoch.
    shuffle_buffer: decoded images held for shuffling when they are not all in memory.
    """

    image_size: tuple[int, int]
    batch_size: int
    resize: str = "squash"
    cache: str = "memory"
    shuffle_buffer: int = 2048

    # Unknown keys are typos; YAML gives the size as a list.
    __pydantic_config__ = {"extra": "forbid"}

    def __post_init__(self):
        object.__setattr__(self, "image_size", tuple(self.image_size))
        if len(self.image_size) != 2:
            raise ParameterError(f"image_size={list(self.image_size)!r} must be [height, width]")
        for side in self.image_size:
            check_count("image_size", side, minimum=1)
        check_count("batch_size", self.batch_size, minimum=1)
        check_count("shuffle_buffer", self.shuffle_buffer, minimum=1)
        check_choice("resize", self.resize, RESIZE_MODES)
        check_choice("cache", self.cache, CACHE_MODES)

    def dataset_arguments(self, cache_dir: str | Path | None) -> dict:
        """``image_dataset`` keyword arguments: these options, caching under ``cache_dir``."""
        return {**dataclasses.asdict(self), "cache_dir": cache_dir}


def image_dataset(
    manifest: pd.DataFrame,
    split: str,
    *,
    image_size: tuple[int, int],
    batch_size: int,
    shuffle: bool,
    seed: int,
    resize: str = InputOptions.resize,
    cache: str = InputOptions.cache,
    cache_dir: str | Path | None = None,
    shuffle_buffer: int = InputOptions.shuffle_buffer,
) -> tf.data.Dataset:
    """Batches of ``(uint8 images, int32 class indices)`` for one split of the manifest;
    the options as ``InputOptions`` means them (``disk`` caches under ``cache_dir``). Only
    ``memory`` holds the split in RAM: the others keep at most ``shuffle_buffer`` images.
    """
    InputOptions(image_size, batch_size, resize, cache, shuffle_buffer)  # its checks
    if cache == "disk" and cache_dir is None:
        raise ParameterError("input.cache='disk' needs a cache_dir")
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise ValueError(f"the manifest has no image in split {split!r}")
    size = tuple(int(side) for side in image_size)
    branch, resize_to = _decoding_plan(rows, size, resize)
    branches, choice = np.unique(branch, return_inverse=True)
    dataset = tf.data.Dataset.from_tensor_slices(
        (
            rows["read_path"].to_numpy(dtype=str),
            choice.astype("int32"),
            resize_to,
            rows["class_index"].to_numpy(dtype="int32"),
        )
    )
    epoch = (
        tf.Variable(0, dtype=tf.int64, trainable=False, name="training_epoch") if shuffle else None
    )
    if shuffle and cache == "none":
        # Shuffling file names costs nothing and leaves no image waiting in a buffer.
        dataset = _shuffled_by_epoch(dataset, len(rows), seed, epoch)
    dataset = dataset.map(
        lambda path, choice, resize_to, label: (
            load_image(path, choice, resize_to, branches=branches.tolist(), size=size, mode=resize),
            label,
        ),
        num_parallel_calls=PARALLEL_CALLS,
        deterministic=True,
    )
    if cache == "memory":
        dataset = dataset.cache()
    elif cache == "disk":
        dataset = dataset.cache(_cache_file(rows, size, resize, cache_dir))
    if shuffle and cache != "none":
        buffer = len(rows) if cache == "memory" else min(len(rows), shuffle_buffer)
        dataset = _shuffled_by_epoch(dataset, buffer, seed, epoch)
    batches = _fixed_parallelism(dataset.batch(batch_size).prefetch(2))
    return _following_epochs(batches, epoch) if shuffle else batches


def _shuffled_by_epoch(dataset: tf.data.Dataset, buffer: int, seed: int, epoch: tf.Variable):
    """``dataset`` shuffled in an order drawn from ``seed`` and the value of ``epoch``
    when it is read: each read builds its shuffle afresh, with no state carried over."""
    count = dataset.cardinality()

    def one_epoch(_):
        # Not the process's global seed as well (tf.random.set_seed): the order is the
        # dataset's seed and the epoch's alone.
        tf.compat.v1.get_default_graph().seed = None
        epoch_seed = tf.constant(seed, tf.int64) + epoch.read_value() * 2**32
        return dataset.shuffle(buffer, seed=epoch_seed, reshuffle_each_iteration=False)

    shuffled = tf.data.Dataset.range(1).flat_map(one_epoch)
    return shuffled.apply(tf.data.experimental.assert_cardinality(count))


def _following_epochs(dataset: tf.data.Dataset, epoch: tf.Variable) -> tf.data.Dataset:
    """``dataset`` with the epoch variable its randomness follows, for training to set."""
    dataset.training_epoch = epoch
    return dataset


def _fixed_parallelism(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def apply_augmentation(
    dataset: tf.data.Dataset, augmenter=None, mixers=(), num_classes: int | None = None
) -> tf.data.Dataset:
    """Run ``augmenter`` (a Keras layer) on each batch, then one of ``mixers`` (MixUp,
    CutMix), which needs one-hot labels over ``num_classes``. Images stay uint8."""
    if augmenter is None and not mixers:
        return dataset
    if mixers and not num_classes:
        raise ValueError("MixUp/CutMix need num_classes to one-hot the labels")
    epoch = getattr(dataset, "training_epoch", None)
    if epoch is None:
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="training_epoch")
    layers = [layer for layer in (augmenter, *mixers) if layer is not None]
    # Under another backend tf.data runs the layers with TensorFlow copies of their
    # generators, made at their first call and out of reach here: their draws run on.
    on_tensorflow = keras.backend.backend() == "tensorflow"
    generators = [v for layer in layers for v in seed_states(layer)] if on_tensorflow else []
    mixer_seed = mixers[0].seed if mixers else 0

    def augment(batch, data):
        images, labels = data
        # Each batch's draws start from (the layer's seed, epoch, batch), whatever ran
        # before. Under op determinism (``compute.deterministic``) tf.data runs this
        # stateful map one batch at a time; without it, batches in flight may share draws.
        position = epoch.read_value() * 2**32 + batch * 2**12
        for state in generators:
            state.assign(tf.stack([state.value[0], tf.cast(position, state.dtype)]))
        images = tf.cast(images, tf.float32)
        if augmenter is not None:
            images = augmenter(images, training=True)
        if mixers:
            data = {"images": images, "labels": tf.one_hot(labels, num_classes)}
            # With both MixUp and CutMix, each batch gets one of them (as timm does).
            choice = tf.random.stateless_uniform(
                [], [mixer_seed, position], 0, len(mixers), dtype=tf.int32
            )
            branches = [lambda mixer=mixer: mixer(data, training=True) for mixer in mixers]
            mixed = tf.switch_case(choice, branches)
            images, labels = mixed["images"], mixed["labels"]
        return tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8), labels

    augmented = dataset.enumerate().map(augment, num_parallel_calls=PARALLEL_CALLS)
    return _following_epochs(_fixed_parallelism(augmented.prefetch(2)), epoch)


def one_hot_labels(dataset: tf.data.Dataset, num_classes: int) -> tf.data.Dataset:
    """Labels as one-hot rows: what validation data must look like when training mixes."""
    return dataset.map(lambda images, labels: (images, tf.one_hot(labels, num_classes)))
