"""The project's Kedro datasets: a version is written whole or not at all."""

import csv
from pathlib import Path

import keras
import pandas as pd
import pytest
import yaml
from kedro.io.core import AbstractDataset, DatasetError, Version

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


def test_a_shared_model_is_loaded_once_while_its_file_is_unchanged(tmp_path, monkeypatch):
    """Every node reading the fine-tuned model gets one loaded object; a file written
    since (another modification time or size) is loaded anew, with its own weights."""
    import os

    import resnet_finetune.datasets as datasets

    loads = []
    monkeypatch.setattr(datasets, "load_model", lambda path: loads.append(path) or tiny_model())
    monkeypatch.setattr(datasets, "_SHARED_MODELS", type(datasets._SHARED_MODELS)())
    filepath = tmp_path / "model.keras"
    filepath.write_bytes(b"first")
    shared = AtomicModelDataset(filepath=str(filepath), shared=True)
    first = shared.load()
    assert AtomicModelDataset(filepath=str(filepath), shared=True).load() is first
    assert len(loads) == 1
    stat = filepath.stat()
    filepath.write_bytes(b"other")  # same size: the modification time tells
    os.utime(filepath, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    second = shared.load()
    assert second is not first and len(loads) == 2
    filepath.write_bytes(b"longer bytes")  # the size tells
    os.utime(filepath, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert shared.load() is not second and len(loads) == 3
    assert AtomicModelDataset(filepath=str(filepath)).load() is not first  # not shared
    assert len(loads) == 4


def test_a_changed_model_file_gives_its_own_weights(tmp_path):
    filepath = str(tmp_path / "model.keras")
    dataset = AtomicModelDataset(filepath=filepath, shared=True)
    one, two = tiny_model(), tiny_model()
    two.set_weights([w + 1 for w in one.get_weights()])
    dataset.save(one)
    assert dataset.load().get_weights()[0].tolist() == one.get_weights()[0].tolist()
    dataset.save(two)
    assert dataset.load().get_weights()[0].tolist() == two.get_weights()[0].tolist()


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


CATALOG = Path(__file__).parents[2] / "conf" / "base" / "catalog.yml"


def _catalog_dataset(name: str, filepath: Path) -> AbstractDataset:
    """The dataset ``name`` of conf/base/catalog.yml, writing to ``filepath``."""
    entry = yaml.safe_load(CATALOG.read_text())[name]
    return AbstractDataset.from_config(name, {**entry, "filepath": str(filepath)})


def test_csv_cells_of_user_data_cannot_run_as_formulas_and_load_back_exactly(tmp_path):
    """Issue 21 case 11: every CSV the catalog writes neutralises (OWASP) the string cells
    that begin with = + - @ tab or CR, numbers stay numbers, and loading gives the exact
    strings back (a value that itself begins with an apostrophe too)."""
    entries = yaml.safe_load(CATALOG.read_text())
    csv_types = {e["type"] for e in entries.values() if str(e.get("filepath", "")).endswith(".csv")}
    assert csv_types == {"resnet_finetune.datasets.SafeCSVDataset"}

    names = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tcat", "\rdog", "'quoted", "ok"]
    table = pd.DataFrame(
        {
            "path": [f"{n}/0.png" if n != "ok" else "=a.png" for n in names],
            "label_1": names,
            "p_1": [-0.5, 0.25, -1.0, 0.0, 1.0, -2.0, 0.5, -0.125],
        }
    )
    file = tmp_path / "predictions.csv"
    dataset = _catalog_dataset("predictions", file)
    dataset.save(table)
    saved = next(p for p in file.rglob("*.csv") if p.is_file())  # versioned: a folder
    with open(saved, newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
    assert not [
        c for c in cells if c.startswith("-") and not c.lstrip("-").replace(".", "").isdigit()
    ]
    assert "-0.5" in cells  # negative numbers are numbers, not text
    assert '\'=HYPERLINK("http://x")' in cells and "''quoted" in cells
    loaded = dataset.load()
    pd.testing.assert_frame_equal(loaded, table, check_dtype=False)
    assert loaded["p_1"].dtype == "float64"


def test_classes_named_like_missing_values_stay_strings_in_every_csv(tmp_path):
    """Issue 21 case 9: classes NA, None (and nan, null, N/A, 7) come back as strings
    from the predictions, test predictions, per-class and confusion tables, manifest."""
    names = ["NA", "None", "nan", "null", "N/A", "7"]
    tables = {
        "predictions": pd.DataFrame({"path": names, "label_1": names, "p_1": 0.5}),
        "test_predictions": pd.DataFrame(
            {"path": names, "split": "test", "true_label": names, "predicted_label": names}
        ),
        "per_class_metrics": pd.DataFrame({"label": names, "precision": [float("nan")] * 6}),
        "confusion_table": pd.DataFrame(
            {"true_label": names, "predicted_label": names, "count": 1}
        ),
        "target.manifest": pd.DataFrame({"path": names, "label": names, "correction": ""}),
    }
    entries = {"target.manifest": "{namespace}.manifest"}
    for name, table in tables.items():
        dataset = _catalog_dataset(entries.get(name, name), tmp_path / f"{name}.csv")
        dataset.save(table)
        loaded = dataset.load()
        for column in table.columns.intersection(["path", "label", "label_1", "true_label"]):
            assert loaded[column].tolist() == names, (name, column)
    assert loaded["correction"].tolist() == [""] * 6
