"""Confidence a user can act on: temperature scaling and the expected calibration error.

A network's softmax is usually over-confident: of the images it gives 0.95, fewer than
95 % are right. Temperature scaling (Guo et al., 2017) divides every log-probability by
one number T, fitted on the validation split to minimise the negative log-likelihood of
its labels; the order of the classes, hence accuracy, never changes. The expected
calibration error (ECE) sorts images into equal-width bins of top-1 confidence and
averages, weighted by the bins' sizes, how far each bin's confidence is from its accuracy.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from resnet_finetune.models.classifier import (
    SMALLEST_PROBABILITY,
    TemperatureScaling,
    with_temperature,
)

ECE_BINS = 15
# The range T is searched in: wide enough for any network seen here (a fitted T is
# typically 0.8–3), narrow enough that a validation split all right (or all wrong)
# cannot push it to an absurd value.
TEMPERATURE_RANGE = (0.05, 20.0)


def _log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probabilities, "float64"), SMALLEST_PROBABILITY, 1.0))


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-probability of each image's true class."""
    log_p = _log_probabilities(probabilities)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T in ``TEMPERATURE_RANGE`` minimising the negative log-likelihood of ``labels``
    under ``softmax(log(probabilities) / T)`` (bounded search on log T)."""
    log_p = _log_probabilities(probabilities)
    rows = np.arange(len(labels))

    def loss(log_temperature: float) -> float:
        scaled = log_p / np.exp(log_temperature)
        return float((logsumexp(scaled, axis=1) - scaled[rows, labels]).mean())

    result = minimize_scalar(
        loss, bounds=np.log(TEMPERATURE_RANGE), method="bounded", options={"xatol": 1e-5}
    )
    return float(np.exp(result.x))


def scaled_probabilities(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``probabilities`` through ``TemperatureScaling(temperature)``, the layer the saved
    model carries; ``1 / T`` undoes a scaling by ``T``."""
    layer = TemperatureScaling(temperature)
    scaled = layer(np.asarray(probabilities, "float32"))
    return np.asarray(keras.ops.convert_to_numpy(scaled), "float64")


def reliability_table(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> pd.DataFrame:
    """One row per equal-width bin of top-1 confidence, ``(lower, upper]``: its bounds,
    number of images, their mean confidence and their accuracy (empty bins: NaN)."""
    probabilities = np.asarray(probabilities, "float64")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    table = pd.DataFrame({"lower": edges[:-1], "upper": edges[1:]})
    table["images"] = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["confidence"] = np.bincount(index, confidence, bins) / table["images"]
        table["accuracy"] = np.bincount(index, correct, bins) / table["images"]
    return table


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Sum over bins of (images in bin / all images) × |accuracy − mean confidence|."""
    table = reliability_table(probabilities, labels, bins).query("images > 0")
    gaps = (table["accuracy"] - table["confidence"]).abs()
    return float((table["images"] * gaps).sum() / max(int(table["images"].sum()), 1))


def calibration_record(
    before: np.ndarray, after: np.ndarray, labels: np.ndarray, temperature: float | None
) -> dict:
    """T and the ECE (``ECE_BINS`` bins) of the same images before and after scaling."""
    return {
        "temperature": temperature,
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "bins": ECE_BINS,
    }


def uncalibrated(probabilities: np.ndarray, temperature: float | None) -> np.ndarray:
    """The probabilities a model gave before its ``temperature`` (``None``: it has none)."""
    if temperature is None:
        return np.asarray(probabilities, "float64")
    return scaled_probabilities(probabilities, 1.0 / temperature)


def held_out_calibration(
    probabilities: np.ndarray, labels: np.ndarray, fitted: dict | None
) -> dict:
    """The calibration block of a model's held-out scores: its ``probabilities`` are
    after the temperature its card records (``fitted``, from ``calibrate``), the ones
    before have it undone. ``fitted`` ``None`` (not calibrated): ``temperature`` is
    ``None`` and before equals after."""
    temperature = fitted["temperature"] if fitted else None
    before = uncalibrated(probabilities, temperature)
    block = calibration_record(before, probabilities, labels, temperature)
    if fitted:
        block.update(
            validation_images=fitted["images"],
            validation_ece_before=fitted["ece_before"],
            validation_ece_after=fitted["ece_after"],
        )
    return block


def _predictions(model: keras.Model, batches) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and class indices of every ``(images, labels)`` batch, in order;
    one-hot labels (batches made for mixing) become indices."""
    parts, labels = [], []
    for images, batch_labels in batches:
        parts.append(np.asarray(model(images, training=False), "float64"))
        labels.append(np.asarray(batch_labels))
    if not parts:
        return np.zeros((0, model.output_shape[-1])), np.zeros(0, "int64")
    labels = np.concatenate(labels)
    return np.concatenate(parts), (labels.argmax(axis=1) if labels.ndim == 2 else labels)


def calibrate(model: keras.Model, batches) -> tuple[keras.Model, dict]:
    """``model`` followed by the temperature fitted on ``batches`` (the validation split,
    the one that chose the model), and the record of it: T, the number of images, and
    the ECE and negative log-likelihood of those images before and after."""
    probabilities, labels = _predictions(model, batches)
    if not len(labels):
        raise ValueError(
            "there is no validation image to fit the temperature on: give the target "
            "split validation images, or set finetune.calibrate: false"
        )
    temperature = fit_temperature(probabilities, labels)
    after = scaled_probabilities(probabilities, temperature)
    record = {
        **calibration_record(probabilities, after, labels, temperature),
        "split": "val",
        "images": len(labels),
        "nll_before": negative_log_likelihood(probabilities, labels),
        "nll_after": negative_log_likelihood(after, labels),
    }
    return with_temperature(model, temperature), record
