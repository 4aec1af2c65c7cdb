"""A classifier around a ResNet backbone: uint8 in, normalised on the device, float32 out."""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers, ops

from resnet_finetune.checks import check_choice, check_range
from resnet_finetune.errors import ParameterError
from resnet_finetune.models.resnet import (
    ARCHITECTURES,
    IMAGENET_MODELS,
    VARIANTS,
    build_resnet,
    imagenet_network_of_file,
    load_imagenet_weights,
    load_weights_file,
)

# keras.applications preprocessing: "tf" for V2, "caffe" (BGR, mean-subtracted) for V1.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PREPROCESSING_MODES = ("tf", "caffe")


@keras.saving.register_keras_serializable(package="resnet_finetune")
class ImagePreprocessing(layers.Layer):
    """Turn uint8 RGB images into the float range a backbone expects."""

    def __init__(self, mode: str = "tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise ParameterError(
                f"mode={mode!r} is not allowed; allowed: {list(PREPROCESSING_MODES)}"
            )
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        return ops.flip(x, axis=-1) - ops.convert_to_tensor(_CAFFE_MEAN_BGR, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


# Probabilities are clipped here before their log: a softmax can give exactly 0 in float32.
# The smallest normal float32 (log: -87.3), not a larger one, which a temperature above 1
# would turn into visible probability (1e-12 ** (1 / 3) = 1e-4).
SMALLEST_PROBABILITY = 1.1754944e-38


@keras.saving.register_keras_serializable(package="resnet_finetune")
class TemperatureScaling(layers.Layer):
    """Calibrated probabilities from a softmax output: ``softmax(log(p) / temperature)``.

    Appended after a model's softmax head (``with_temperature``), so every consumer of
    the saved model reads calibrated probabilities; dividing every log-probability by
    the same positive number keeps their order, so the top class never changes."""

    def __init__(self, temperature: float = 1.0, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})  # float32 under mixed precision
        if not temperature > 0:
            raise ValueError(f"temperature={temperature!r} must be above 0")
        self.temperature = float(temperature)

    def call(self, inputs):
        probabilities = ops.clip(ops.cast(inputs, "float32"), SMALLEST_PROBABILITY, 1.0)
        return ops.softmax(ops.log(probabilities) / self.temperature, axis=-1)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


def with_temperature(model: keras.Model, temperature: float) -> keras.Model:
    """``model`` (softmax output) followed by ``TemperatureScaling(temperature)``, same
    layers and weights, same name."""
    outputs = TemperatureScaling(temperature, name="temperature")(model.outputs[0])
    return keras.Model(model.inputs, outputs, name=model.name)


# BatchNorm momentum of the backbones this project trains (the ``backbone.bn_momentum``
# default): Keras's 0.99 never settles on small data sets (docs: known traps).
BN_MOMENTUM = 0.9

WEIGHT_CHOICES = (
    "pretrain",
    "synthetic",
    "imagenet",
    "none",
    "a path to a .keras or .weights.h5 file",
)
# Starts that the pretrain pipeline makes: on the source images, or on generated ones.
PRETRAINED_STARTS = ("pretrain", "synthetic")
WEIGHT_FILES = (".keras", ".weights.h5", ".h5")


@dataclass(frozen=True)
class BackboneSpec:
    """The network a classifier is built on and the weights it starts from: the
    ``backbone`` parameter block (conf/base leaves ``architecture``, ``width``, ``weights``
    and ``preprocessing`` to the recipe, ``auto``).

    architecture: a network of ``models.resnet.ARCHITECTURES`` (resnet18-152 for photos,
        the CIFAR-style resnet20-110 for small images).
    variant: ``v1``, ``v1.5`` or ``v2`` (pre-activation) for the ImageNet family; ``v1``
        for the CIFAR family.
    width: channel multiplier (0.5: half the channels of every layer).
    bn_momentum: BatchNorm's moving-average momentum: Keras's 0.99 never settles on small
        data sets (docs: known traps).
    weights: one of ``WEIGHT_CHOICES``: the pretrain pipeline's model (``pretrain`` on the
        source images, ``synthetic`` on generated ones), keras.applications' ``imagenet``
        weights (downloaded once), ``none`` (random), or a weights file.
    preprocessing: how uint8 pixels become the backbone's input, as its weights were
        trained: ``tf`` ([-1, 1]) or ``caffe`` (BGR, mean-subtracted).
    """

    architecture: str
    variant: str = "v1"
    width: float = 1.0
    bn_momentum: float = BN_MOMENTUM
    weights: str = "none"
    preprocessing: str = "tf"

    # Unknown keys are typos (pydantic reads this when the schema validates the block).
    __pydantic_config__ = {"extra": "forbid"}

    def __post_init__(self):
        check_choice("architecture", self.architecture, sorted(ARCHITECTURES))
        variants = VARIANTS[ARCHITECTURES[self.architecture].family]
        if self.variant not in variants:
            raise ParameterError(
                f"variant={self.variant!r} is not allowed for {self.architecture}; "
                f"allowed: {list(variants)}"
            )
        check_range("width", self.width, 0, math.inf, open_low=True, closed_high=False)
        check_range("bn_momentum", self.bn_momentum, 0, 1, closed_high=False)
        check_choice("preprocessing", self.preprocessing, PREPROCESSING_MODES)
        weights = _weights_choice(self.weights)
        if weights == "imagenet" and (self.architecture, self.variant) not in IMAGENET_MODELS:
            raise ParameterError(
                f"weights='imagenet' exists for (architecture, variant) in "
                f"{sorted(IMAGENET_MODELS)}, not {(self.architecture, self.variant)!r}"
            )


def build_backbone(spec: BackboneSpec, channels: int = 3) -> keras.Model:
    """A headless, size-agnostic ResNet of ``spec``'s network, randomly initialised."""
    model = build_resnet(
        spec.architecture,
        input_shape=(None, None, channels),
        include_top=False,
        pooling="avg",
        variant=spec.variant,
        width=spec.width,
        bn_momentum=spec.bn_momentum,
    )
    return keras.Model(model.input, model.output, name="backbone")


def build_classifier(
    backbone: keras.Model,
    num_classes: int,
    *,
    image_size: tuple[int, int],
    dropout: float = 0.0,
    preprocessing: str = "tf",
    augmentation: keras.Layer | None = None,
    resize_to: tuple[int, int] | None = None,
) -> keras.Model:
    """Stack augmentation (active only in training), a resize to ``resize_to`` (a small
    network reading larger images), preprocessing, ``backbone`` and a new float32 softmax
    head."""
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes} must be at least 2")
    channels = backbone.input_shape[-1]
    inputs = keras.Input((*image_size, channels), dtype="uint8", name="image")
    x = augmentation(inputs) if augmentation is not None else inputs
    if resize_to is not None:
        x = layers.Resizing(*resize_to, name="resize")(x)
    x = ImagePreprocessing(preprocessing, name="preprocessing")(x)
    x = backbone(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="head")(x)
    return keras.Model(inputs, outputs, name="classifier")


def backbone_of(model: keras.Model) -> keras.Model:
    """The feature extractor inside a saved model: our ``backbone`` layer, or everything
    up to global pooling for a keras.applications-style model."""
    names = {layer.name for layer in model.layers}
    if "backbone" in names:
        return model.get_layer("backbone")
    for pooling in ("avg_pool", "max_pool"):
        if pooling in names:
            return keras.Model(model.inputs, model.get_layer(pooling).output, name="backbone")
    raise ValueError(
        f"model {model.name!r} has neither a 'backbone' layer nor a global pooling layer "
        "('avg_pool'/'max_pool') to cut its head at"
    )


def backbone_from_weights(spec: BackboneSpec, pretrained: keras.Model | None = None) -> keras.Model:
    """The backbone that ``spec.weights`` names, checked to take RGB images.

    ``pretrain`` and ``synthetic``: the backbone of ``pretrained`` (the model of the
    pretrain pipeline, trained on the source images or on generated ones);
    ``imagenet``: keras.applications' published weights (needs internet);
    ``none``: random initialisation; a path: a ``.keras`` model, a ``.weights.h5`` or a
    keras.applications ``.h5`` file whose layers fit the network ``spec`` describes.
    """
    backbone = _resolve_backbone(spec, pretrained)
    channels = backbone.input_shape[-1]
    if channels != 3:
        raise ParameterError(
            f"backbone.weights={spec.weights!r} gives a backbone for {channels}-channel "
            "inputs; the images are RGB (3 channels): pretrain or pick weights for RGB input"
        )
    return backbone


def _weights_choice(weights: str) -> str:
    """``weights``: one of ``WEIGHT_CHOICES`` (a file by its suffix), or a ParameterError."""
    weights = str(weights)
    if weights not in (*PRETRAINED_STARTS, "imagenet", "none") and not weights.endswith(
        WEIGHT_FILES
    ):
        raise ParameterError(
            f"backbone.weights={weights!r} is not allowed; allowed: {list(WEIGHT_CHOICES)}"
        )
    return weights


def _resolve_backbone(spec: BackboneSpec, pretrained: keras.Model | None) -> keras.Model:
    weights = spec.weights
    if weights in PRETRAINED_STARTS:
        if pretrained is None:
            raise ParameterError(
                f"backbone.weights={weights!r} needs the model of the pretrain pipeline"
            )
        return backbone_of(pretrained)
    if weights.endswith(WEIGHT_FILES):
        return _backbone_from_file(spec, weights)
    backbone = build_backbone(spec)
    if weights == "imagenet":
        load_imagenet_weights(backbone, spec.architecture, spec.variant, include_top=False)
    return backbone


def check_backbone_weights(spec: BackboneSpec) -> None:
    """Before any work: a weights file in ``spec.weights`` gives every layer of the
    network ``spec`` describes its weights, with fitting shapes; or a ``ValueError`` /
    ``FileNotFoundError`` naming the file and how many layers matched of how many. Reads
    only names and shapes, on the code path the load takes."""
    if spec.weights.endswith(WEIGHT_FILES):
        _backbone_from_file(spec, spec.weights, check_only=True)


def _backbone_from_file(spec: BackboneSpec, path: str, check_only: bool = False) -> keras.Model:
    """The backbone ``spec`` describes with the weights of the file at ``path``."""
    network = imagenet_network_of_file(path)
    wanted = (spec.architecture, spec.variant)
    if network is not None and network != wanted:
        raise ParameterError(
            f"backbone.weights={path!r} holds keras.applications' {network[0]} "
            f"{network[1]} weights, not {wanted[0]} {wanted[1]}: set backbone.architecture "
            f"and backbone.variant to match (or leave them auto)"
        )
    backbone = build_backbone(spec)
    load_weights_file(backbone, path, parameter="backbone.weights", check_only=check_only)
    return backbone
