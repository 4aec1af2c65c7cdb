"""Exports of a trained classifier for other runtimes, each checked in its own runtime."""

from resnet_finetune.export.formats import (
    FORMATS,
    INSTALL_EXPORT,
    ExportOptions,
    ExportRuntimeMissing,
    check_exports,
    check_formats,
    export_model,
    predictor,
    require_runtimes,
)

__all__ = [
    "FORMATS",
    "INSTALL_EXPORT",
    "ExportOptions",
    "ExportRuntimeMissing",
    "check_exports",
    "check_formats",
    "export_model",
    "predictor",
    "require_runtimes",
]
