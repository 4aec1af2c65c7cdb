"""The ResNet library: pure Keras 3, no Kedro."""

from resnet_finetune.models.classifier import (
    BackboneSpec,
    ImagePreprocessing,
    TemperatureScaling,
    backbone_from_weights,
    backbone_of,
    build_backbone,
    build_classifier,
    check_backbone_weights,
    with_temperature,
)
from resnet_finetune.models.report import architecture_report, multiply_adds
from resnet_finetune.models.resnet import (
    ARCHITECTURES,
    build_resnet,
    load_model,
    load_weights_file,
    total_stride,
    transfer_weights,
)

__all__ = [
    "ARCHITECTURES",
    "BackboneSpec",
    "ImagePreprocessing",
    "TemperatureScaling",
    "architecture_report",
    "backbone_from_weights",
    "backbone_of",
    "check_backbone_weights",
    "build_backbone",
    "build_classifier",
    "build_resnet",
    "load_model",
    "load_weights_file",
    "multiply_adds",
    "total_stride",
    "transfer_weights",
    "with_temperature",
]
