"""Export settings are checked by name; exported folders are versioned.

The exports themselves, each run in its own runtime, are tested end to end by the
``export`` pipeline test (tests/pipelines)."""

import numpy as np
import pytest
from kedro.io.core import Version

from resnet_finetune.datasets import FolderDataset
from resnet_finetune.export import export_model
from resnet_finetune.models import build_backbone, build_classifier
from tests.training.test_training import CONFIG


def test_unknown_format_and_missing_calibration_images_are_refused(tmp_path):
    model = build_classifier(build_backbone(CONFIG), 2, image_size=(8, 8))
    with pytest.raises(ValueError, match=r"export.formats: \['coreml'\] not allowed"):
        export_model(model, tmp_path, np.zeros((1, 8, 8, 3), "uint8"), formats=["coreml"])
    with pytest.raises(ValueError, match="int8 quantisation needs representative images"):
        export_model(model, tmp_path, np.zeros((0, 8, 8, 3), "uint8"), formats=["tflite_int8"])


def test_folder_dataset_keeps_every_saved_version(tmp_path):
    def folder_with(text):
        folder = tmp_path / f"made-{text}"
        (folder / "inner").mkdir(parents=True)
        (folder / "inner" / "file.txt").write_text(text)
        return folder

    target = tmp_path / "exports"
    assert not FolderDataset(str(target))._exists()
    for text, version in (("first", "2026-01-01T00.00.00.000Z"), ("second", None)):
        FolderDataset(str(target), version=Version(None, version)).save(folder_with(text))
    assert len(list(target.iterdir())) == 2
    latest = FolderDataset(str(target), version=Version(None, None)).load()
    assert (latest / "inner" / "file.txt").read_text() == "second"
    first = FolderDataset(str(target), version=Version("2026-01-01T00.00.00.000Z", None)).load()
    assert (first / "inner" / "file.txt").read_text() == "first"
