"""Augmentation from parameters, built from Keras 3 preprocessing layers.

Every layer here runs in a ``tf.data`` pipeline whatever the backend, or inside the
model on the device. Images are 0-255 floats; labels are untouched except by MixUp and
CutMix, which blend them and so need one-hot labels.
"""

from __future__ import annotations

import inspect
import math

import keras
from keras import layers

from resnet_finetune.errors import ParameterError

FLIP_MODES = ("none", "horizontal", "vertical", "horizontal_and_vertical")
PLACES = ("pipeline", "model")
_VALUE_RANGE = (0, 255)


@keras.saving.register_keras_serializable(package="resnet_finetune")
class RandomResizedCrop(layers.RandomZoom):
    """Inception-style crop: a random region of ``area`` × the image with an aspect
    ratio in ``aspect``, placed anywhere inside the image, resized to the full size.

    Keras 3 has no such layer; this one reuses RandomZoom's affine resampling and adds
    the random placement (RandomZoom always zooms about the centre).
    """

    def __init__(self, area=(0.08, 1.0), aspect=(3 / 4, 4 / 3), seed=None, **kwargs):
        for key in ("height_factor", "width_factor"):
            kwargs.pop(key, None)
        super().__init__(height_factor=0.0, fill_mode="nearest", seed=seed, **kwargs)
        if not 0 < area[0] <= area[1] <= 1:
            raise ParameterError(f"random_resized_crop={list(area)!r}: need 0 < min <= max <= 1")
        self.area = tuple(area)
        self.aspect = tuple(aspect)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        shape = self.backend.shape(images)
        draws = (shape[0], 1) if len(shape) == 4 else (1, 1)
        seed = seed or self._get_seed_generator(self.backend._backend)
        uniform = self.backend.random.uniform
        area = uniform(draws, self.area[0], self.area[1], seed=seed)
        log_aspect = uniform(draws, math.log(self.aspect[0]), math.log(self.aspect[1]), seed=seed)
        aspect = self.backend.numpy.exp(log_aspect)
        width = self.backend.numpy.minimum(self.backend.numpy.sqrt(area * aspect), 1.0)
        height = self.backend.numpy.minimum(self.backend.numpy.sqrt(area / aspect), 1.0)
        return {
            "width_zoom": width,
            "height_zoom": height,
            "x_start": uniform(draws, 0.0, 1.0, seed=seed) * (1.0 - width),
            "y_start": uniform(draws, 0.0, 1.0, seed=seed) * (1.0 - height),
        }

    def _transform_images(self, images, transformation, interpolation):
        if transformation is None:
            return images
        numpy = self.backend.numpy
        unbatched = len(self.backend.shape(images)) == 3
        if unbatched:
            images = numpy.expand_dims(images, 0)
        shape = self.backend.shape(images)
        height = self.backend.cast(shape[1], "float32")
        width = self.backend.cast(shape[2], "float32")
        zeros = numpy.zeros_like(transformation["width_zoom"])
        # Output pixel (x, y) samples input (zx·x + x0, zy·y + y0).
        matrix = numpy.concatenate(
            [
                transformation["width_zoom"],
                zeros,
                transformation["x_start"] * (width - 1.0),
                zeros,
                transformation["height_zoom"],
                transformation["y_start"] * (height - 1.0),
                zeros,
                zeros,
            ],
            axis=1,
        )
        outputs = self.backend.image.affine_transform(
            images,
            transform=self.backend.cast(matrix, "float32"),
            interpolation=interpolation,
            fill_mode=self.fill_mode,
            data_format=self.data_format,
        )
        return numpy.squeeze(outputs, 0) if unbatched else outputs

    def get_config(self):
        config = super().get_config()
        for key in ("height_factor", "width_factor", "fill_mode", "fill_value"):
            config.pop(key, None)
        return {**config, "area": list(self.area), "aspect": list(self.aspect)}


def build_augmenter(
    *,
    flip: str = "none",
    rotation: float = 0.0,
    zoom: float = 0.0,
    translation: float = 0.0,
    random_resized_crop: list[float] | None = None,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    hue: float = 0.0,
    rand_augment: dict | None = None,
    erasing: float = 0.0,
    seed: int = 42,
) -> keras.Sequential | None:
    """A Sequential of random layers on 0-255 images; ``None`` when all are off.

    ``rotation`` is a fraction of a full turn, ``zoom`` and ``translation`` fractions
    of the image side; ``brightness``, ``contrast``, ``saturation`` and ``hue`` are
    jitter factors; ``random_resized_crop`` is ``[min_area, max_area]``;
    ``rand_augment`` is ``{num_ops, factor}``; ``erasing`` the probability of erasing a
    random rectangle. MixUp/CutMix are built by ``build_mixers``.
    """
    if flip not in FLIP_MODES:
        raise ParameterError(
            f"augmentation.flip={flip!r} is not allowed; allowed: {list(FLIP_MODES)}"
        )
    jitter = {
        "brightness": brightness,
        "contrast": contrast,
        "saturation": saturation,
        "hue": hue,
    }
    fractions = {"rotation": rotation, "zoom": zoom, "translation": translation, "erasing": erasing}
    for key, value in {**fractions, **jitter}.items():
        if not 0 <= value < 1:
            raise ParameterError(f"augmentation.{key}={value!r} must be in [0, 1)")
    steps = []
    if random_resized_crop:
        steps.append(RandomResizedCrop(tuple(random_resized_crop), seed=seed))
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
    if any(jitter.values()):
        steps.append(
            layers.RandomColorJitter(
                _VALUE_RANGE,
                **{f"{key}_factor": value or None for key, value in jitter.items()},
                seed=seed,
            )
        )
    if rand_augment:
        steps.append(layers.RandAugment(_VALUE_RANGE, **rand_augment, seed=seed))
    if erasing:
        steps.append(
            layers.RandomErasing(factor=(erasing, erasing), value_range=_VALUE_RANGE, seed=seed)
        )
    return keras.Sequential(steps, name="augmentation") if steps else None


def build_mixers(*, mixup: float = 0.0, cutmix: float = 0.0, seed: int = 42) -> list:
    """MixUp (``mixup`` = its alpha) and CutMix (``cutmix`` = its alpha) layers, if on."""
    for key, value in {"mixup": mixup, "cutmix": cutmix}.items():
        if value < 0:
            raise ParameterError(f"augmentation.{key}={value!r} must be 0 (off) or positive")
    mixers = []
    if mixup:
        mixers.append(layers.MixUp(alpha=mixup, seed=seed))
    if cutmix:
        mixers.append(layers.CutMix(factor=cutmix, seed=seed))
    return mixers


_MIXING_KEYS = ("mixup", "cutmix")
_IMAGE_KEYS = tuple(
    name for name in inspect.signature(build_augmenter).parameters if name != "seed"
)


def split_augmentation(augmentation: dict) -> tuple[str, dict, dict]:
    """``(place, image options, mixing options)`` of an ``augmentation`` parameter block.

    ``run_in`` says where the image layers run: ``pipeline`` (tf.data, on the CPU) or
    ``model`` (inside the model, on the device). MixUp/CutMix need the labels, so they
    always run in the pipeline.
    """
    options = dict(augmentation)
    place = options.pop("run_in", "pipeline")
    if place not in PLACES:
        raise ParameterError(
            f"augmentation.run_in={place!r} is not allowed; allowed: {list(PLACES)}"
        )
    unknown = sorted(set(options) - set(_IMAGE_KEYS) - set(_MIXING_KEYS))
    if unknown:
        raise ParameterError(
            f"augmentation.{unknown[0]} is not a known option; known: "
            f"{sorted(['run_in', *_IMAGE_KEYS, *_MIXING_KEYS])}"
        )
    image = {k: v for k, v in options.items() if k in _IMAGE_KEYS}
    mixing = {k: v for k, v in options.items() if k in _MIXING_KEYS}
    return place, image, mixing


def pipeline_augments(augmentation: dict) -> bool:
    """Whether the input pipeline changes the training images from one pass to the next:
    image layers run there (``run_in: pipeline``), or MixUp/CutMix, which always do."""
    place, image_options, mixing = split_augmentation(augmentation)
    images = place == "pipeline" and build_augmenter(**image_options) is not None
    return images or bool(build_mixers(**mixing))


def model_augmenter(augmentation: dict, seed: int) -> keras.Sequential | None:
    """The image augmenter to put inside the model when ``augmentation.run_in`` is ``model``."""
    place, image_options, _ = split_augmentation(augmentation)
    return build_augmenter(**image_options, seed=seed) if place == "model" else None
