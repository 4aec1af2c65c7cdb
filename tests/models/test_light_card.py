"""A model's card stays light however many images trained it: the held-out rows in full,
every other image as 8 bytes of its SHA-256, and a checked way back to the manifest the
model was trained on for what needs the training rows."""

import zipfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from resnet_finetune.data.identity import dataset_sha256
from resnet_finetune.data.manifest import MANIFEST_COLUMNS
from resnet_finetune.evaluation.inference import (
    TrainingManifestError,
    held_out_rows,
    training_manifest,
)
from resnet_finetune.models import load_model
from resnet_finetune.models.card import (
    HELD_OUT_COLUMNS,
    attach_card,
    card_of,
    make_card,
    read_card,
    sha256_prefixes,
    write_card,
)
from tests.models.test_card_binding import rewritten, save, saved_file, trained_model

CLASSES = [f"class_{index:02d}" for index in range(10)]


def synthetic_manifest(count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` rows as ingestion writes them for a folder of small photos: 70% train,
    15% val, 15% test, random contents (SHA-256 digests that do not compress)."""
    rng = np.random.default_rng(seed)
    digests = rng.bytes(32 * count).hex()
    class_index = rng.integers(0, len(CLASSES), count)
    paths = [f"data/01_raw/photos/{CLASSES[k]}/IMG_{i:06d}.jpg" for i, k in enumerate(class_index)]
    draw = rng.random(count)
    manifest = pd.DataFrame(
        {
            "path": paths,
            "label": [CLASSES[k] for k in class_index],
            "class_index": class_index,
            "split": np.where(draw < 0.7, "train", np.where(draw < 0.85, "val", "test")),
            "sha256": [digests[64 * i : 64 * (i + 1)] for i in range(count)],
            "width": rng.integers(24, 64, count),
            "height": rng.integers(24, 64, count),
            "mode": "RGB",
            "read_path": paths,
            "format": "JPEG",
            "phash": [digests[64 * i + 1 : 64 * i + 17] for i in range(count)],
            "duplicate_group": "",
            "correction": "",
            "split_origin": "computed",
        }
    )
    return manifest[MANIFEST_COLUMNS]


def card_for(manifest: pd.DataFrame):
    return make_card(
        manifest,
        {name: index for index, name in enumerate(CLASSES)},
        pd.DataFrame({"epoch": range(1, 31), "loss": np.linspace(2, 0.1, 30)}),
        image_size=[32, 32],
        resize="squash",
        preprocessing="tf",
        parameters={"seed": 42},
        dataset_sha256=dataset_sha256(manifest),
    )


def tiny_model_file(folder: Path) -> Path:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(len(CLASSES), "softmax")])
    path = folder / "model.keras"
    keras.saving.save_model(model, path)
    return path


def test_a_card_of_100000_images_adds_less_than_5_mb_to_the_model_file(tmp_path):
    manifest = synthetic_manifest(100_000)
    card = card_for(manifest)
    path = tiny_model_file(tmp_path)
    weights_only = path.stat().st_size
    write_card(path, card, "2026-01-01T00.00.00.000Z")
    added = path.stat().st_size - weights_only
    # 1.46 MB: held-out rows 0.79 MB, seen digests 0.67 MB; the whole manifest took 5.75 MB
    assert added < 5_000_000
    back = read_card(path)
    held_out = manifest[manifest["split"] == "test"]
    assert back.held_out.equals(held_out[list(HELD_OUT_COLUMNS)].reset_index(drop=True))
    seen = manifest.loc[manifest["split"] != "test", "sha256"]
    assert back.seen_sha256.dtype == np.uint64 and len(back.seen_sha256) == len(seen)
    assert (back.seen_sha256 == np.sort(sha256_prefixes(seen))).all()
    assert back.version == "2026-01-01T00.00.00.000Z"


def test_a_held_out_image_that_is_a_training_image_is_refused():
    manifest = synthetic_manifest(40, seed=1)
    test = manifest.index[manifest["split"] == "test"]
    train = manifest.index[manifest["split"] == "train"]
    manifest.loc[test[2], "sha256"] = manifest.loc[train[0], "sha256"]  # the same bytes
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(len(CLASSES))])
    attach_card(model, card_for(manifest))
    path = manifest.loc[test[2], "path"]
    with pytest.raises(ValueError, match=f"'{path}' \\(and 0 more\\) of the 'test' split is also"):
        held_out_rows(model)


def test_the_training_manifest_is_the_models_own_version_checked_by_its_digest():
    manifest = synthetic_manifest(60, seed=2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(len(CLASSES))], name="m")
    attach_card(model, card_for(manifest))
    with pytest.raises(TrainingManifestError, match="model 'm' records no save version"):
        training_manifest(model, lambda version: ("x.csv", manifest))
    card_of(model).version = "V1"
    asked = []

    def saved(rows):
        return lambda version: asked.append(version) or (f"manifests/{version}/m.csv", rows)

    assert training_manifest(model, saved(manifest)) is manifest
    assert asked == ["V1"]
    with pytest.raises(
        TrainingManifestError,
        match=r"the manifest model V1 was trained on, 'manifests/V1/m.csv', is gone: restore it",
    ):
        training_manifest(model, saved(None))
    relabelled = manifest.assign(label=manifest["label"].iloc[::-1].to_numpy())
    with pytest.raises(
        TrainingManifestError,
        match=r"'manifests/V1/m.csv' is not the manifest model V1 was trained on \(its dataset "
        r"SHA-256 differs",
    ):
        training_manifest(model, saved(relabelled))


def test_a_card_carrying_the_whole_manifest_is_refused_as_older(tmp_path):
    save(trained_model(0, ["cat", "dog"]), tmp_path / "model.keras")
    path = saved_file(tmp_path)
    with zipfile.ZipFile(path) as archive:
        held_out = archive.read("resnet_finetune/held_out.csv")
    rewritten(path, {"resnet_finetune/manifest.csv": held_out})
    with pytest.raises(ValueError, match="it carries the whole manifest \\(written by an older"):
        load_model(path)
