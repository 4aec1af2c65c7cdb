"""The project's Kedro datasets: a version is written whole or not at all."""

import keras
import pytest
from kedro.io.core import DatasetError, Version

from resnet_finetune.datasets import AtomicModelDataset, FolderDataset


def tiny_model():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def killed_midway(model, path, **kwargs):
    with open(path, "wb") as file:
        file.write(b"PK\x03\x04 half a zip")
    raise KeyboardInterrupt  # the process dies here


def test_a_model_save_interrupted_midway_leaves_no_version(tmp_path, monkeypatch):
    filepath = str(tmp_path / "model.keras")
    dataset = AtomicModelDataset(filepath=filepath, version=Version(None, None))
    monkeypatch.setattr(keras.saving, "save_model", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        dataset.save(tiny_model())
    monkeypatch.undo()
    reader = AtomicModelDataset(filepath=filepath, version=Version(None, None))
    assert not reader.exists()
    with pytest.raises(DatasetError):
        reader.load()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []

    model = tiny_model()
    AtomicModelDataset(filepath=filepath, version=Version(None, None)).save(model)
    loaded = AtomicModelDataset(filepath=filepath, version=Version(None, None)).load()
    assert [w.tolist() for w in loaded.get_weights()] == [w.tolist() for w in model.get_weights()]
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["model.keras"]


def test_a_folder_copy_interrupted_midway_leaves_no_version(tmp_path, monkeypatch):
    source = tmp_path / "exports"
    source.mkdir()
    (source / "model.onnx").write_bytes(b"onnx")
    filepath = str(tmp_path / "saved" / "exports")

    def copy_then_die(src, dst, **kwargs):
        (dst / "half").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr("shutil.copytree", copy_then_die)
    with pytest.raises(KeyboardInterrupt):
        FolderDataset(filepath, Version(None, None)).save(source)
    monkeypatch.undo()
    assert not FolderDataset(filepath, Version(None, None)).exists()
    assert [p for p in (tmp_path / "saved").rglob("*") if p.is_file() or p.name == "half"] == []
