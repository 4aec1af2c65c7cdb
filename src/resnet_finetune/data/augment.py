"""Augmentation from parameters, built from Keras 3 preprocessing layers.

Every layer here runs in a ``tf.data`` pipeline whatever the backend, or inside the
model on the device. Images are 0-255 floats; labels are untouched except by MixUp and
CutMix, which blend them and so need one-hot labels.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import keras
from keras import layers

from resnet_finetune.checks import check_choice, check_count, check_range
from resnet_finetune.errors import ParameterError

FLIP_MODES = ("none", "horizontal", "vertical", "horizontal_and_vertical")
PLACES = ("pipeline", "model")
_VALUE_RANGE = (0, 255)
_FRACTIONS = ("rotation", "zoom", "translation", "erasing")  # of a turn, a side; a probability
_JITTER = ("brightness", "contrast", "saturation", "hue")
# RandAugment arguments this module sets itself, not options of `rand_augment`.
_SET_HERE = {"value_range", "seed", "data_format", "kwargs"}


def check_crop_area(area) -> None:
    """A random resized crop's ``[min_area, max_area]``: shares of the image."""
    if len(area) != 2 or not 0 < area[0] <= area[1] <= 1:
        raise ParameterError(
            f"random_resized_crop={list(area)!r}: need [min_area, max_area] with "
            "0 < min_area <= max_area <= 1"
        )


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
        check_crop_area(area)
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


@dataclass(frozen=True)
class Augmentation:
    """Random changes to the training images: the ``<task>.augmentation`` parameter block
    (for a user's folder of photographs the recipe chooses the geometric ones). Every
    option at its default is off; validation and test images are never changed.

    run_in: where the image layers run: ``pipeline`` (tf.data, on the CPU) or ``model``
        (inside the model, on the device). MixUp/CutMix need the labels, so they always
        run in the pipeline.
    flip: ``none``, ``horizontal``, ``vertical`` or ``horizontal_and_vertical`` mirroring.
    rotation: the largest rotation, as a fraction of a full turn.
    zoom, translation: the largest zoom and shift, as fractions of the image side.
    random_resized_crop: ``[min_area, max_area]``: an Inception-style crop of that share
        of the image, resized to the full size (``null``: off).
    brightness, contrast, saturation, hue: colour jitter factors.
    rand_augment: ``{num_ops, factor}`` of Keras' RandAugment (``null``: off).
    erasing: the probability of erasing a random rectangle.
    mixup, cutmix: the alpha of MixUp and of CutMix (0: off); with both, each batch gets
        one of them.
    """

    run_in: str = "pipeline"
    flip: str = "none"
    rotation: float = 0.0
    zoom: float = 0.0
    translation: float = 0.0
    random_resized_crop: tuple[float, float] | None = None
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    rand_augment: dict | None = None
    erasing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0

    # Unknown keys are typos; YAML gives the crop as a list.
    __pydantic_config__ = {"extra": "forbid"}

    def __post_init__(self):
        check_choice("run_in", self.run_in, PLACES)
        check_choice("flip", self.flip, FLIP_MODES)
        for key in _FRACTIONS + _JITTER:
            check_range(key, getattr(self, key), 0, 1, closed_high=False)
        for key in ("mixup", "cutmix"):
            check_range(key, getattr(self, key), 0, math.inf, closed_high=False)
        if self.random_resized_crop is not None:
            object.__setattr__(self, "random_resized_crop", tuple(self.random_resized_crop))
            check_crop_area(self.random_resized_crop)
        if self.rand_augment is not None:
            self._check_rand_augment()

    def _check_rand_augment(self) -> None:
        """``rand_augment``: a mapping of RandAugment's own options, checked by Keras (its
        ``factor``) and here (``num_ops``, which Keras takes as it comes)."""
        options = self.rand_augment
        allowed = sorted(set(inspect.signature(layers.RandAugment).parameters) - _SET_HERE)
        if not isinstance(options, dict) or set(options) - set(allowed):
            raise ParameterError(
                f"rand_augment={options!r}: give a mapping of {allowed} (e.g. "
                "{num_ops: 2, factor: 0.5}), or null"
            )
        if "num_ops" in options:
            check_count("rand_augment.num_ops", options["num_ops"], minimum=1)
        try:
            layers.RandAugment(_VALUE_RANGE, **options)
        except (TypeError, ValueError) as error:
            raise ParameterError(f"rand_augment={options!r}: {error}") from None

    def image_layers(self, seed: int) -> keras.Sequential | None:
        """A Sequential of the random image layers on 0-255 images; ``None`` when all are
        off. Wherever ``run_in`` says they run: ``pipeline_layers`` and ``model_layers``
        choose."""
        jitter = {key: getattr(self, key) for key in _JITTER}
        steps = []
        if self.random_resized_crop:
            steps.append(RandomResizedCrop(self.random_resized_crop, seed=seed))
        if self.flip != "none":
            steps.append(layers.RandomFlip(self.flip, seed=seed))
        if self.rotation:
            steps.append(layers.RandomRotation(self.rotation, fill_mode="constant", seed=seed))
        if self.zoom:
            steps.append(layers.RandomZoom(self.zoom, fill_mode="constant", seed=seed))
        if self.translation:
            steps.append(
                layers.RandomTranslation(
                    self.translation, self.translation, fill_mode="constant", seed=seed
                )
            )
        if any(jitter.values()):
            steps.append(
                layers.RandomColorJitter(
                    _VALUE_RANGE,
                    **{f"{key}_factor": value or None for key, value in jitter.items()},
                    seed=seed,
                )
            )
        if self.rand_augment:
            steps.append(layers.RandAugment(_VALUE_RANGE, **self.rand_augment, seed=seed))
        if self.erasing:
            steps.append(
                layers.RandomErasing(
                    factor=(self.erasing, self.erasing), value_range=_VALUE_RANGE, seed=seed
                )
            )
        return keras.Sequential(steps, name="augmentation") if steps else None

    def pipeline_layers(self, seed: int) -> keras.Sequential | None:
        """The image layers tf.data runs (``run_in: pipeline``), if any."""
        return self.image_layers(seed) if self.run_in == "pipeline" else None

    def model_layers(self, seed: int) -> keras.Sequential | None:
        """The image layers to put inside the model (``run_in: model``), if any."""
        return self.image_layers(seed) if self.run_in == "model" else None

    def mixers(self, seed: int) -> list:
        """MixUp and CutMix layers, those that are on."""
        mixers = []
        if self.mixup:
            mixers.append(layers.MixUp(alpha=self.mixup, seed=seed))
        if self.cutmix:
            mixers.append(layers.CutMix(factor=self.cutmix, seed=seed))
        return mixers

    @property
    def changes_pipeline_images(self) -> bool:
        """Whether the input pipeline changes the training images from one pass to the
        next: image layers run there, or MixUp/CutMix, which always do."""
        return self.pipeline_layers(seed=0) is not None or bool(self.mixup or self.cutmix)
