"""Reading images and predicting them exactly as a model's own card says.

Evaluation, batch prediction, exports and the MLflow model all go through here, so
every one of them reads an image the way the model was trained to see it (input size,
resize mode) and names the classes the model's card names, whatever run is "latest".
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from resnet_finetune.checks import check_choice, check_count, check_range
from resnet_finetune.data.identity import dataset_sha256
from resnet_finetune.data.images import remake_converted
from resnet_finetune.data.input_pipeline import image_dataset
from resnet_finetune.models.card import card_of, sha256_prefixes

BATCH_SIZE = 64
TTA_MODES = ("none", "flip")
# The class probabilities of the last ``features_and_probabilities`` pass of each model,
# by image (path, SHA-256), with a digest of the weights that made them: the label
# suspects' pass reads every labelled image, the held-out ones among them, and
# ``predict_probabilities`` answers those from here rather than reading them again.
_PASSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class PredictOptions:
    """The ``predict`` parameter block: ``kedro run --pipeline predict`` labels every
    image under ``data_dir`` (any layout, no classes needed) with the fine-tuned model.

    top_k: labels given per image; min_confidence: in (0, 1], images whose top
    (calibrated) probability is below it are labelled ``unsure`` (null: every image gets
    its top label); tta: ``flip`` averages the probabilities of each image and of its
    mirror image (for classes a mirror does not change), or ``none``.
    """

    data_dir: str | None = None
    top_k: int = 3
    min_confidence: float | None = None
    tta: str = "none"

    __pydantic_config__ = {"extra": "forbid"}  # unknown keys are typos

    def __post_init__(self):
        check_count("top_k", self.top_k, minimum=1)
        if self.min_confidence is not None:
            check_range("min_confidence", self.min_confidence, 0.0, 1.0, open_low=True)
        check_choice("tta", self.tta, TTA_MODES)


def read_images(model: keras.Model, rows: pd.DataFrame, batch_size: int = BATCH_SIZE):
    """``(uint8 images, class indices)`` batches of ``rows`` in their order, read as
    ``model`` was trained to see them: no augmentation, no cache. Converted copies that
    were deleted are made again from their source files first."""
    card = card_of(model)
    remake_converted(rows)
    return image_dataset(
        rows.assign(split="read"),
        "read",
        image_size=tuple(model.input_shape[1:3]),
        batch_size=batch_size,
        shuffle=False,
        seed=0,
        resize=card.resize,
        cache="none",
    )


def _weights_digest(model: keras.Model) -> str:
    """A digest of every weight of ``model`` (BatchNorm statistics too): a tenth of a
    second for a ResNet-50, against tens of seconds for a pass over its images."""
    digest = hashlib.blake2b(digest_size=16)
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight)).tobytes())
    return digest.hexdigest()


def _image_keys(rows: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(rows["path"].astype(str), rows["sha256"].astype(str)))


def features_and_probabilities(
    model: keras.Model, rows: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """The features the classifier's head reads (its input) and the class probabilities
    of ``rows``, in their order, from one graph-mode pass (``predict`` over batches). The
    probabilities are kept for ``predict_probabilities`` of the same images by the same
    model, as long as its weights are unchanged."""
    both = keras.Model(model.inputs, [model.get_layer("head").input, model.output])
    features, probabilities = both.predict(read_images(model, rows), verbose=0)
    probabilities = _checked(model, np.asarray(probabilities, "float64"))
    _PASSED[model] = (_weights_digest(model), dict(zip(_image_keys(rows), probabilities)))
    return np.asarray(features, np.float32), probabilities


def _passed(model: keras.Model, rows: pd.DataFrame) -> np.ndarray | None:
    """The probabilities of ``rows`` from the model's last pass, if it read every one of
    them with the weights it has now; else None."""
    if model not in _PASSED or rows.empty:
        return None
    digest, probabilities = _PASSED[model]
    keys = _image_keys(rows)
    if not all(key in probabilities for key in keys) or digest != _weights_digest(model):
        return None
    return np.stack([probabilities[key] for key in keys])


def _checked(model: keras.Model, probabilities: np.ndarray) -> np.ndarray:
    names = card_of(model).class_names
    if probabilities.shape[1] != len(names):
        raise ValueError(
            f"model {model.name!r} predicts {probabilities.shape[1]} classes but its card "
            f"names {len(names)}: the file is damaged"
        )
    return probabilities


def predict_probabilities(model: keras.Model, rows: pd.DataFrame, tta: str = "none") -> np.ndarray:
    """Class probabilities of ``rows`` (manifest-like: read_path, format, width, height),
    in their order, columns in the order of the card's class names. ``tta`` (test-time
    augmentation): ``"flip"`` averages each image's probabilities with its mirror
    image's (left-right), for classes that a mirror does not change; ``"none"``. Images
    that ``features_and_probabilities`` has just passed through this model (and weights)
    are not read again."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta={tta!r} is not allowed; allowed: {list(TTA_MODES)}")
    if tta == "none" and (passed := _passed(model, rows)) is not None:
        return passed
    images = read_images(model, rows)
    probabilities = np.asarray(model.predict(images, verbose=0), "float64")
    if tta == "flip":
        mirrored = images.map(lambda batch, labels: (batch[:, :, ::-1], labels))
        probabilities = (probabilities + model.predict(mirrored, verbose=0)) / 2
    return _checked(model, probabilities)


def image_arrays(model: keras.Model, rows: pd.DataFrame) -> np.ndarray:
    """The uint8 images of ``rows`` in their order, as ``model`` reads them."""
    if rows.empty:
        return np.zeros((0, *model.input_shape[1:3], 3), dtype="uint8")
    batches = read_images(model, rows, batch_size=len(rows))
    return np.concatenate([images.numpy() for images, _ in batches])


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def held_out_rows(model: keras.Model) -> pd.DataFrame:
    """The images ``model`` was never trained or selected on, from its card — checked:
    each file still exists with the bytes it had, and none of them is (byte for byte)
    one of the model's training or selection images. Anything else is refused, naming
    the file: a score on images the model has seen would be a silent wrong answer."""
    card = card_of(model)
    split, rows = card.held_out_split, card.held_out
    if rows is None or rows.empty:
        raise ValueError(f"model {model.name!r} has no held-out image ({split!r} split is empty)")
    overlap = rows[np.isin(sha256_prefixes(rows["sha256"]), card.seen_sha256)]
    if not overlap.empty:
        raise ValueError(
            f"{overlap['path'].iloc[0]!r} (and {len(overlap) - 1} more) of the {split!r} split "
            "is also a training or validation image of this model: refusing to score it"
        )
    for path, read_path, sha256 in rows[["path", "read_path", "sha256"]].itertuples(index=False):
        if not Path(path).is_file():  # a missing converted copy is made again from it
            raise FileNotFoundError(
                f"held-out image {path!r} of this model is gone: evaluate it where its data is"
            )
        if read_path == path and file_sha256(path) != sha256:
            raise ValueError(
                f"held-out image {path!r} has changed since the model was trained "
                "(its SHA-256 differs): refusing to score other images than the recorded ones"
            )
    return rows


class TrainingManifestError(ValueError):
    """The manifest a model was trained on cannot be had: gone, or not that manifest."""


def training_manifest(
    model: keras.Model, read_version: Callable[[str], tuple[str, pd.DataFrame | None]]
) -> pd.DataFrame:
    """Every image ``model`` was trained, selected and scored on, with its label and split:
    the saved manifest of the model's own save version (one run saves all its outputs with
    one version), read by ``read_version(version) -> (path, rows or None)``, and checked
    against the dataset digest the card records. Refused, naming the file and what to do,
    when it is gone or another manifest: never a silent other dataset."""
    card = card_of(model)
    if card.version is None:
        raise TrainingManifestError(
            f"model {model.name!r} records no save version, so the manifest it was trained on "
            "cannot be found: use a model saved by `kedro run --pipeline finetune`"
        )
    path, manifest = read_version(card.version)
    retrain = "or run `kedro run --pipeline finetune` to train a model on the data as it is"
    if manifest is None:
        raise TrainingManifestError(
            f"the manifest model {card.version} was trained on, {path!r}, is gone: restore it "
            f"(the whole data/03_primary folder of that run), {retrain}"
        )
    if dataset_sha256(manifest) != card.data["dataset_sha256"]:
        raise TrainingManifestError(
            f"{path!r} is not the manifest model {card.version} was trained on (its dataset "
            f"SHA-256 differs from the model card's): restore that run's file, {retrain}"
        )
    return manifest
