"""Augmentation from parameters, built from Keras 3 preprocessing layers."""

from __future__ import annotations

import keras
from keras import layers

FLIP_MODES = ("none", "horizontal", "vertical", "horizontal_and_vertical")


def build_augmenter(
    *,
    flip: str = "none",
    rotation: float = 0.0,
    zoom: float = 0.0,
    translation: float = 0.0,
    contrast: float = 0.0,
    brightness: float = 0.0,
    seed: int = 42,
) -> keras.Sequential | None:
    """A Sequential of random layers on 0-255 images; ``None`` when all are off.

    ``rotation`` is a fraction of a full turn, ``zoom`` and ``translation`` fractions
    of the image side, ``contrast`` and ``brightness`` relative factors.
    """
    if flip not in FLIP_MODES:
        raise ValueError(f"augmentation.flip={flip!r} is not allowed; allowed: {list(FLIP_MODES)}")
    for key, value in {
        "rotation": rotation,
        "zoom": zoom,
        "translation": translation,
        "contrast": contrast,
        "brightness": brightness,
    }.items():
        if not 0 <= value < 1:
            raise ValueError(f"augmentation.{key}={value!r} must be in [0, 1)")
    steps = []
    if flip != "none":
        steps.append(layers.RandomFlip(flip, seed=seed))
    if rotation:
        steps.append(layers.RandomRotation(rotation, fill_mode="constant", seed=seed))
    if zoom:
        steps.append(layers.RandomZoom(zoom, fill_mode="constant", seed=seed))
    if translation:
        steps.append(
            layers.RandomTranslation(translation, translation, fill_mode="constant", seed=seed)
        )
    if contrast:
        steps.append(layers.RandomContrast(contrast, value_range=(0, 255), seed=seed))
    if brightness:
        steps.append(layers.RandomBrightness(brightness, value_range=(0, 255), seed=seed))
    return keras.Sequential(steps, name="augmentation") if steps else None
