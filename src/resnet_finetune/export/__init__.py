"""Exports of a trained classifier for other runtimes, each checked in its own runtime."""

from resnet_finetune.export.formats import (
    FORMATS,
    check_exports,
    check_formats,
    export_model,
    predictor,
)

__all__ = ["FORMATS", "check_exports", "check_formats", "export_model", "predictor"]
