"""The ResNet library: pure Keras 3, no Kedro."""

from resnet_finetune.models.classifier import (
    ImagePreprocessing,
    backbone_from_weights,
    backbone_of,
    build_backbone,
    build_classifier,
)
from resnet_finetune.models.report import architecture_report, multiply_adds
from resnet_finetune.models.resnet import (
    ARCHITECTURES,
    build_resnet,
    load_model,
    load_weights_by_name,
    total_stride,
    transfer_weights,
)

__all__ = [
    "ARCHITECTURES",
    "ImagePreprocessing",
    "architecture_report",
    "backbone_from_weights",
    "backbone_of",
    "build_backbone",
    "build_classifier",
    "build_resnet",
    "load_model",
    "load_weights_by_name",
    "multiply_adds",
    "total_stride",
    "transfer_weights",
]
