"""A model card is bound to the weights it describes: an edited card, another model's
card or a second card in the file is refused wherever a model is loaded with its card."""

import json
import shutil
import warnings
import zipfile
from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError, Version

from resnet_finetune.datasets import AtomicModelDataset
from resnet_finetune.models import load_model
from resnet_finetune.models.card import ModelCard, attach_card, card_of
from resnet_finetune.serving import ImageClassifier

CARD = "resnet_finetune/card.json"
REFUSED = r"the model card in '.*model.keras' does not match the model"
# Kedro wraps what a dataset raises while loading in its own error, message kept.
LOAD_ERRORS = (ValueError, DatasetError)


def trained_model(seed: int, class_names: list[str]) -> keras.Model:
    """A small model trained one step (so its file carries an optimizer state), with a card."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(len(class_names), "softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(np.ones((4, 4)), np.zeros(4), verbose=0)
    manifest = pd.DataFrame({"path": ["a.png"], "label": [class_names[0]], "split": ["test"]})
    history = pd.DataFrame({"epoch": [1], "loss": [0.5]})
    card = ModelCard(class_names, [4, 4], "squash", "scale", {"seed": seed}, {}, manifest, history)
    return attach_card(model, card)


def save(model: keras.Model, path) -> None:
    AtomicModelDataset(filepath=str(path), version=Version(None, None)).save(model)


def saved_file(folder) -> str:
    """The one saved version's file under the versioned dataset's folder."""
    [path] = list(folder.rglob("model.keras/*/model.keras"))
    return str(path)


def rewritten(path: str, replace: dict[str, bytes]) -> None:
    """``path`` rewritten with the entries of ``replace`` in place of its own."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in {**entries, **replace}.items():
            archive.writestr(name, content)


@pytest.fixture(scope="module")
def saved_once(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("saved")
    save(trained_model(0, ["cat", "dog", "owl"]), folder / "model.keras")
    return saved_file(folder)


@pytest.fixture
def model_file(saved_once, tmp_path) -> str:
    """A fresh copy of a saved model, for a test to tamper with."""
    return shutil.copy(saved_once, tmp_path / "model.keras")


def every_loader(path: str) -> None:
    """Load ``path`` as the catalog, ``predict``/``evaluate``/``export`` and MLflow do."""
    for load in (
        lambda: load_model(path),
        lambda: AtomicModelDataset(filepath=path).load(),
        lambda: ImageClassifier().load_context(SimpleNamespace(artifacts={"model": path})),
    ):
        load()


def test_an_untouched_model_loads_with_its_card(model_file):
    every_loader(model_file)
    card = card_of(load_model(model_file))
    assert card.class_names == ["cat", "dog", "owl"]
    assert len(card.weights_sha256) == 64 and card.held_out["path"].tolist() == ["a.png"]


def test_class_names_edited_in_the_card_are_refused(model_file):
    with zipfile.ZipFile(model_file) as archive:
        text = json.loads(archive.read(CARD))
    text["class_names"].reverse()
    rewritten(model_file, {CARD: json.dumps(text).encode()})
    for load in (load_model, lambda path: AtomicModelDataset(filepath=path).load()):
        with pytest.raises(LOAD_ERRORS, match=REFUSED + ": the card was edited"):
            load(model_file)
    with pytest.raises(ValueError, match=REFUSED):
        ImageClassifier().load_context(SimpleNamespace(artifacts={"model": model_file}))


def test_another_models_card_is_refused(model_file, tmp_path):
    other = tmp_path / "other"
    save(trained_model(1, ["dog", "cat", "owl"]), other / "model.keras")
    with zipfile.ZipFile(saved_file(other)) as archive:
        card = {n: archive.read(n) for n in archive.namelist() if n.startswith("resnet_finetune/")}
    rewritten(model_file, card)
    with pytest.raises(ValueError, match=REFUSED + r".*another model's card.*restore the file"):
        load_model(model_file)
    with pytest.raises(ValueError, match=REFUSED):
        ImageClassifier().load_context(SimpleNamespace(artifacts={"model": model_file}))


def test_a_second_card_appended_to_the_file_is_refused(model_file):
    with zipfile.ZipFile(model_file) as archive:
        text = json.loads(archive.read(CARD))
    text["class_names"].reverse()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(model_file, "a") as archive:
            archive.writestr(CARD, json.dumps(text))
    with pytest.raises(ValueError, match="more than one entry named 'resnet_finetune/card.json'"):
        load_model(model_file)
    with pytest.raises(LOAD_ERRORS, match="model.keras' holds more than one entry"):
        AtomicModelDataset(filepath=model_file).load()


def test_the_weights_digest_survives_a_save_load_save_cycle(model_file, tmp_path):
    """The first file carries the optimizer's state, the second does not: the same weights,
    the same digest, and both load."""
    again = tmp_path / "again"
    save(load_model(model_file), again / "model.keras")
    first, second = card_of(load_model(model_file)), card_of(load_model(saved_file(again)))
    assert second.weights_sha256 == first.weights_sha256
    assert second.class_names == first.class_names
