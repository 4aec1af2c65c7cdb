"""tf.data input: parallel decode and resize, cache, shuffle, batch, prefetch.

The one module of the project that imports TensorFlow. Images leave it as uint8 so
that normalisation happens on the device, inside the model.
"""

from __future__ import annotations

import pandas as pd
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def _load_image(path, image_size):
    data = tf.io.read_file(path)
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.image.resize(image, image_size, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def image_dataset(
    manifest: pd.DataFrame,
    split: str,
    *,
    image_size: tuple[int, int],
    batch_size: int,
    shuffle: bool,
    seed: int,
    cache: bool = True,
) -> tf.data.Dataset:
    """Batches of ``(uint8 images, int32 class indices)`` for one split of the manifest."""
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise ValueError(f"the manifest has no image in split {split!r}")
    dataset = tf.data.Dataset.from_tensor_slices(
        (rows["path"].to_numpy(dtype=str), rows["class_index"].to_numpy(dtype="int32"))
    )
    size = tuple(int(side) for side in image_size)
    dataset = dataset.map(
        lambda path, label: (_load_image(path, size), label),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def apply_augmentation(dataset: tf.data.Dataset, augmenter) -> tf.data.Dataset:
    """Run ``augmenter`` (a Keras layer) on each batch; images stay uint8."""
    if augmenter is None:
        return dataset

    def augment(images, labels):
        images = augmenter(tf.cast(images, tf.float32), training=True)
        return tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8), labels

    return dataset.map(augment, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
