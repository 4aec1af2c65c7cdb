"""tf.data input: parallel decode and resize, cache, shuffle, batch, prefetch.

The one module of the project that builds input pipelines with TensorFlow. Images leave
it as uint8 so that normalisation happens on the device, inside the model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import tensorflow as tf

# One decoding thread per core from the first batch on. tf.data's autotuning starts low
# and ramps up, and on a short epoch it was seen to settle on about one busy core of two.
PARALLEL_CALLS = os.cpu_count() or 1
RESIZE_MODES = ("squash", "centre_crop", "pad")
CACHE_MODES = ("none", "memory", "disk")
# libjpeg decodes at 1/1, 1/2, 1/4 or 1/8 of full size for little more than the cost
# of reading the file: a large JPEG bound for a small input is decoded small.
_JPEG_RATIOS = (1, 2, 4, 8)
# Bump when the pixels this module produces change, so that old disk caches are not read.
_PIXEL_FORMAT_VERSION = 1


def _decode(data, target_shape, region_shape):
    """Decode to RGB uint8; a JPEG at the smallest scale whose ``region`` still covers
    the target on both sides."""

    def decode_jpeg_at(ratio):
        return lambda: tf.io.decode_jpeg(data, channels=3, ratio=ratio)

    def decode_any():
        return tf.io.decode_image(data, channels=3, expand_animations=False)

    coverage = tf.reduce_min(tf.cast(region_shape, tf.float32) / tf.cast(target_shape, tf.float32))
    fits = [coverage >= ratio for ratio in _JPEG_RATIOS]
    ratio_index = tf.reduce_sum(tf.cast(fits, tf.int32)) - 1
    jpeg_ratio_index = tf.maximum(ratio_index, 0)
    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.switch_case(jpeg_ratio_index, [decode_jpeg_at(r) for r in _JPEG_RATIOS]),
        decode_any,
    )
    image.set_shape([None, None, 3])
    return image


def _resize(image, size):
    """Bilinear down to half the size (little aliasing, and a JPEG is already decoded
    within 2× of the target); area averaging for larger reductions."""
    shrink = tf.reduce_min(tf.cast(tf.shape(image)[:2], tf.float32) / tf.cast(size, tf.float32))
    resized = tf.cond(
        shrink > 2.0,
        lambda: tf.image.resize(image, size, method="area"),
        lambda: tf.image.resize(image, size, method="bilinear"),
    )
    # Both methods average pixels, so values stay in [0, 255]: +0.5 then cast rounds.
    return tf.cast(resized + 0.5, tf.uint8)


def _centre_crop_shape(height, width, target):
    """The largest centred region of ``height``×``width`` with the target's aspect."""
    target_h, target_w = (tf.cast(side, tf.float64) for side in target)
    height, width = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    scale = tf.minimum(height / target_h, width / target_w)
    return tuple(tf.cast(tf.round(side * scale), tf.int32) for side in (target_h, target_w))


def load_image(path, height, width, *, size: tuple[int, int], mode: str):
    """One file as a ``size`` uint8 RGB image, resized by ``mode``.

    ``height`` and ``width`` come from the manifest: they choose the JPEG decoding scale
    and the crop before any pixel is decoded.
    """
    target = tf.constant(size, tf.int32)
    data = tf.io.read_file(path)
    if mode == "centre_crop":
        region = tf.stack(_centre_crop_shape(height, width, size))
        image = _decode(data, target, region)
        shape = tf.shape(image)[:2]
        crop = tf.stack(_centre_crop_shape(shape[0], shape[1], size))
        offset = (shape - crop) // 2
        image = tf.image.crop_to_bounding_box(image, offset[0], offset[1], crop[0], crop[1])
        return _resize(image, target)
    if mode == "pad":
        fit = tf.minimum(target[0] / height, target[1] / width)
        scaled = tf.round(tf.cast(tf.stack([height, width]), tf.float64) * fit)
        region_target = tf.clip_by_value(tf.cast(scaled, tf.int32), 1, target)
        image = _decode(data, region_target, tf.stack([height, width]))
        image = _resize(image, region_target)
        offset = (target - tf.shape(image)[:2]) // 2
        return tf.image.pad_to_bounding_box(image, offset[0], offset[1], size[0], size[1])
    image = _decode(data, target, tf.stack([height, width]))
    return _resize(image, target)


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


def _check_modes(resize: str, cache: str) -> None:
    if resize not in RESIZE_MODES:
        raise ValueError(f"input.resize={resize!r} is not allowed; allowed: {list(RESIZE_MODES)}")
    if cache not in CACHE_MODES:
        raise ValueError(f"input.cache={cache!r} is not allowed; allowed: {list(CACHE_MODES)}")


def image_dataset(
    manifest: pd.DataFrame,
    split: str,
    *,
    image_size: tuple[int, int],
    batch_size: int,
    shuffle: bool,
    seed: int,
    resize: str = "squash",
    cache: str = "memory",
    cache_dir: str | Path | None = None,
    shuffle_buffer: int = 2048,
) -> tf.data.Dataset:
    """Batches of ``(uint8 images, int32 class indices)`` for one split of the manifest.

    ``cache``: ``memory`` keeps decoded images in RAM after the first epoch; ``disk``
    writes them under ``cache_dir``, where later epochs and later runs on the same
    images read them back; ``none`` decodes every epoch. Only ``memory`` holds the split
    in RAM: the others keep at most ``shuffle_buffer`` images.
    """
    _check_modes(resize, cache)
    if cache == "disk" and cache_dir is None:
        raise ValueError("input.cache='disk' needs a cache_dir")
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise ValueError(f"the manifest has no image in split {split!r}")
    size = tuple(int(side) for side in image_size)
    dataset = tf.data.Dataset.from_tensor_slices(
        (
            rows["read_path"].to_numpy(dtype=str),
            rows["height"].to_numpy(dtype="int32"),
            rows["width"].to_numpy(dtype="int32"),
            rows["class_index"].to_numpy(dtype="int32"),
        )
    )
    if shuffle and cache == "none":
        # Shuffling file names costs nothing and leaves no image waiting in a buffer.
        dataset = dataset.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(
        lambda path, height, width, label: (
            load_image(path, height, width, size=size, mode=resize),
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
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    return _fixed_parallelism(dataset.batch(batch_size).prefetch(2))


_INPUT_DEFAULTS = {"resize": "squash", "cache": "memory", "shuffle_buffer": 2048}


def input_arguments(input_options: dict, cache_dir: str | Path | None) -> dict:
    """``image_dataset`` keyword arguments from an ``input`` parameter block."""
    known = {"image_size", "batch_size", *_INPUT_DEFAULTS}
    unknown = sorted(set(input_options) - known)
    if unknown:
        raise ValueError(f"input.{unknown[0]} is not a known option; known: {sorted(known)}")
    arguments = {**_INPUT_DEFAULTS, **input_options}
    _check_modes(arguments["resize"], arguments["cache"])
    return {**arguments, "image_size": tuple(input_options["image_size"]), "cache_dir": cache_dir}


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
    mixer_seed = mixers[0].seed if mixers else None

    def augment(images, labels):
        images = tf.cast(images, tf.float32)
        if augmenter is not None:
            images = augmenter(images, training=True)
        if mixers:
            data = {"images": images, "labels": tf.one_hot(labels, num_classes)}
            # With both MixUp and CutMix, each batch gets one of them (as timm does).
            choice = tf.random.uniform([], 0, len(mixers), dtype=tf.int32, seed=mixer_seed)
            branches = [lambda mixer=mixer: mixer(data, training=True) for mixer in mixers]
            mixed = tf.switch_case(choice, branches)
            images, labels = mixed["images"], mixed["labels"]
        return tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8), labels

    return _fixed_parallelism(dataset.map(augment, num_parallel_calls=PARALLEL_CALLS).prefetch(2))


def one_hot_labels(dataset: tf.data.Dataset, num_classes: int) -> tf.data.Dataset:
    """Labels as one-hot rows: what validation data must look like when training mixes."""
    return dataset.map(lambda images, labels: (images, tf.one_hot(labels, num_classes)))
