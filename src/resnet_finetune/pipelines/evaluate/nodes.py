"""Evaluation nodes: predict the held-out split, score it, compare with the baseline."""

from __future__ import annotations

import logging

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from resnet_finetune.evaluation.calibration import (
    held_out_calibration,
    reliability_table,
    uncalibrated,
)
from resnet_finetune.evaluation.gradcam import grad_cam
from resnet_finetune.evaluation.inference import (
    held_out_rows,
    image_arrays,
    predict_probabilities,
    training_manifest,
)
from resnet_finetune.evaluation.metrics import (
    classification_metrics,
    confusion,
    confusion_table,
    most_confident_mistakes,
    per_class_table,
    prediction_table,
)
from resnet_finetune.evaluation.plots import (
    classes_take_turns,
    confusion_matrix_figure,
    example_titles,
    grad_cam_grid,
    image_grid,
    learning_curves,
    reliability_diagram,
    suspect_titles,
)
from resnet_finetune.evaluation.report import (
    EvaluateOptions,
    calibration_blocks,
    data_quality_blocks,
    evaluation_report,
)
from resnet_finetune.models.card import ModelCard, baseline_facts, card_of
from resnet_finetune.trees import plain

logger = logging.getLogger(__name__)


def predict_held_out(model: keras.Model) -> pd.DataFrame:
    """One row per image of the model's own held-out split (from its card, whatever the
    current parameters or the latest ingestion say): path, split, true and predicted
    label, class probabilities."""
    card, rows = card_of(model), held_out_rows(model)
    source = card.data.get("summary", {}).get("image_root", "its training data")
    # Not target.data_dir: a model is scored on the images it held out, wherever from.
    logger.info(
        "scoring %s on the %d %s images it held out (its card), from %s",
        card.parameters.get("backbone", {}).get("architecture", "the model"),
        len(rows),
        card.held_out_split,
        source,
    )
    table = prediction_table(
        rows["path"].tolist(),
        rows["class_index"].to_numpy(),
        predict_probabilities(model, rows),
        card.class_names,
    )
    table.insert(1, "split", card.held_out_split)
    return table


def _probabilities(card: ModelCard, predictions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The class probabilities and true class indices of a prediction table."""
    probabilities = predictions[[f"p_{name}" for name in card.class_names]].to_numpy()
    return probabilities, predictions["true_label"].map(card.class_map).to_numpy()


def score_predictions(
    model: keras.Model, predictions: pd.DataFrame, options: EvaluateOptions
) -> tuple[dict, plt.Figure]:
    """Metrics (scikit-learn) and the confusion-matrix figure of a prediction table,
    with where each figure comes from: the scored split, the split that chose the best
    epoch, and the identity of the data."""
    card = card_of(model)
    names = card.class_names
    probabilities, y_true = _probabilities(card, predictions)
    metrics = classification_metrics(y_true, probabilities, names, top_k=options.top_k)
    metrics.update(
        evaluated_split=card.held_out_split,
        selection_split=card.data["selection_split"],
        held_out_sha256=card.data["held_out_sha256"],
        dataset_sha256=card.data["dataset_sha256"],
        split_origin=card.data["summary"].get("split_origin", {}),
        calibration=held_out_calibration(probabilities, y_true, card.data.get("calibration")),
    )
    matrix = confusion(y_true, probabilities.argmax(axis=1), len(names))
    title = f"{options.title} ({metrics['evaluated_split']} split)"
    return metrics, confusion_matrix_figure(matrix, names, title)


def plot_reliability(model: keras.Model, predictions: pd.DataFrame) -> plt.Figure:
    """The reliability diagram of the held-out predictions: before and after the
    temperature in the model's card (or as they are, when it has none)."""
    card = card_of(model)
    probabilities, y_true = _probabilities(card, predictions)
    fitted = card.data.get("calibration")
    if fitted:
        temperature = fitted["temperature"]
        tables = {
            "before temperature scaling": uncalibrated(probabilities, temperature),
            f"after (T = {temperature:.2f})": probabilities,
        }
    else:
        tables = {"not calibrated (finetune.calibrate: false)": probabilities}
    return reliability_diagram(
        {name: reliability_table(values, y_true) for name, values in tables.items()},
        f"Reliability of the confidence ({card.held_out_split} split)",
    )


def _confusion(predictions: pd.DataFrame, class_map: dict[str, int]) -> np.ndarray:
    return confusion(
        predictions["true_label"].map(class_map).to_numpy(),
        predictions["predicted_label"].map(class_map).to_numpy(),
        len(class_map),
    )


def score_tables(
    model: keras.Model, metrics: dict, predictions: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Precision, recall, F1 and support per class; the confusion matrix as counts and
    shares of each true class."""
    card = card_of(model)
    return per_class_table(metrics), confusion_table(
        _confusion(predictions, card.class_map), card.class_names
    )


def _images(model: keras.Model, rows: pd.DataFrame, saved_manifests=None) -> np.ndarray:
    """The images of some rows of a prediction or suspects table, as the model read them:
    from the held-out rows of its card, or from the manifest it was trained on when some
    are not held out (label suspects of every split)."""
    known = card_of(model).held_out
    if not rows["path"].isin(known["path"]).all():
        known = training_manifest(model, saved_manifests)
    return image_arrays(model, known.set_index("path").loc[rows["path"]].reset_index())


def _suspects_grid(
    model: keras.Model, suspects: pd.DataFrame, count: int, saved_manifests
) -> plt.Figure | None:
    """The ``count`` most likely mislabelled images: given → suggested label, score."""
    top = suspects.head(count)
    if top.empty:
        return None
    title = "Most likely mislabelled: given → suggested label, score"
    return image_grid(_images(model, top, saved_manifests), suspect_titles(top), title)


def build_report(
    model: keras.Model,
    predictions: pd.DataFrame,
    metrics: dict,
    options: EvaluateOptions,
    label_suspects: pd.DataFrame,
    saved_manifests,
) -> tuple[plt.Figure, plt.Figure, str]:
    """The most confidently wrong held-out images, Grad-CAM heat maps over a few of them
    (classes taking turns), and the HTML report that gathers them with the scores, data,
    data quality (ingestion's checks, the most likely mislabelled images), learning
    curves, confusion matrix and the parameters that made the model — all from the
    model's own card (the suspects' images of other splits: from ``saved_manifests``, the
    manifest of the model's version)."""
    card, counts = card_of(model), options.report
    wrong = most_confident_mistakes(predictions, counts.misclassified)
    mistakes = image_grid(
        _images(model, wrong),
        example_titles(wrong),
        "Most confidently wrong: true → predicted, confidence",
    )
    sample = classes_take_turns(predictions, "true_label", counts.grad_cam)
    images = _images(model, sample)
    cams = grad_cam_grid(
        images, grad_cam(model, images), example_titles(sample), "Grad-CAM, predicted class"
    )
    curves = learning_curves(card.history, "Fine-tuning on the target task")
    matrix = confusion_matrix_figure(
        _confusion(predictions, card.class_map), card.class_names, "Confusion matrix"
    )
    shown = counts.label_suspects
    suspects_grid = _suspects_grid(model, label_suspects, shown, saved_manifests)
    reliability = plot_reliability(model, predictions)
    report = evaluation_report(
        metrics=metrics,
        per_class=per_class_table(metrics),
        ingestion_summary=card.data["summary"],
        learning_curves=curves,
        confusion=matrix,
        mistakes=mistakes,
        mistaken_rows=wrong,
        grad_cams=cams,
        parameters={**card.parameters, "evaluate": plain(options)},
        calibration=calibration_blocks(metrics["calibration"], reliability),
        data_quality=data_quality_blocks(
            card.data["summary"], label_suspects, suspects_grid, shown
        ),
    )
    # Drawn for the page only; the saved figures are closed once saved.
    for figure in (curves, matrix, suspects_grid, reliability):
        if figure is not None:
            plt.close(figure)
    return mistakes, cams, report


def compare_with_scratch(finetuned: dict, scratch: dict, scratch_model: keras.Model) -> dict:
    """Fine-tuned vs from-scratch on the same held-out images, and which baseline that
    was (network, input size, epochs) and what it cost (seconds, from its card)."""
    if finetuned["held_out_sha256"] != scratch["held_out_sha256"]:
        raise ValueError("the fine-tuned and scratch models were scored on different images")
    keys = ("accuracy", "top_k_accuracy", "macro_f1")
    return {
        "baseline": baseline_facts(card_of(scratch_model)),
        "evaluated_split": finetuned["evaluated_split"],
        "num_test_images": finetuned["num_test_images"],
        "finetuned": {key: finetuned[key] for key in keys},
        "scratch": {key: scratch[key] for key in keys},
        "gain_from_pretraining": {key: finetuned[key] - scratch[key] for key in keys},
    }
