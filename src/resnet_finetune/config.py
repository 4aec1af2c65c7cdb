"""Checks of the run's parameters, made before any work starts.

Each error names the parameter, the value given and what is allowed.
"""

from __future__ import annotations

from resnet_finetune.data.listing import image_source, list_images
from resnet_finetune.errors import ParameterError
from resnet_finetune.models.classifier import BackboneSpec, check_backbone_weights
from resnet_finetune.models.resnet import check_input_size
from resnet_finetune.schema import validate_parameters


def check_backbone(backbone: BackboneSpec, image_sizes: dict[str, list[int]]) -> None:
    """The network of ``backbone`` (its values checked by ``BackboneSpec``) takes every
    task's image size, and a weights file fits it: read (names and shapes) before any
    node trains."""
    for key, size in image_sizes.items():
        check_input_size(backbone.architecture, list(size), key)
    check_backbone_weights(backbone)


def check_synthetic_start(parameters: dict) -> None:
    """``backbone.weights: synthetic`` pretrains on generated images, so a pretraining
    folder of the user's (``source.data_dir``) would be left unread: refused."""
    source_dir = (parameters.get("source") or {}).get("data_dir")
    if parameters["backbone"].get("weights") == "synthetic" and source_dir:
        raise ParameterError(
            f"backbone.weights='synthetic' pretrains on generated images (synthetic.*), not "
            f"on source.data_dir={str(source_dir)!r}: leave source.data_dir unset, or "
            "pretrain on your folder with backbone.weights=pretrain"
        )


def check_image_folder(key: str, data_dir: str | None) -> None:
    """``<task>.data_dir``: unset (embedded default), or a folder or CSV list naming
    images of two or more classes."""
    if data_dir is None or str(data_dir).strip() == "":
        return
    files, _ = list_images(image_source(data_dir, key))
    if files.empty:
        raise ParameterError(
            f"{key}={str(data_dir)!r} holds no image with a class "
            "(expected e.g. cats/001.jpg, dogs/002.jpg)"
        )
    classes = sorted(files["label"].unique())
    if len(classes) < 2:
        raise ParameterError(
            f"{key}={str(data_dir)!r} has a single class ({classes[0]!r}); a classifier needs "
            "at least two"
        )


def check_parameters(
    parameters: dict, tasks: tuple[str, ...] = ("source", "target", "degradation")
) -> None:
    """All checks that can be made before any image is read or any model trained: the
    schema (keys, types, ranges), then the library's own checks of values and of
    combinations."""
    validated = validate_parameters(parameters)
    for task in tasks:
        if task in parameters:
            check_image_folder(f"{task}.data_dir", parameters[task].get("data_dir"))
    if validated.backbone is not None:
        sizes = {
            f"{task}.input.image_size": parameters[task]["input"]["image_size"]
            for task in tasks
            if task in parameters and task != "degradation"  # its networks are its own
        }
        check_backbone(validated.backbone, sizes)
        check_synthetic_start(parameters)
