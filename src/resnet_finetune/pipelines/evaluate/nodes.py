"""Evaluation nodes: predict the held-out split, score it, compare with the baseline."""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from resnet_finetune.data.input_pipeline import image_dataset, input_arguments
from resnet_finetune.evaluation.gradcam import grad_cam
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
)
from resnet_finetune.evaluation.report import evaluation_report

# The parameter blocks that made the evaluated model, and the evaluation's, in the report.
REPORTED_PARAMETERS = (
    "seed",
    "backbone",
    "source",
    "pretrain",
    "target",
    "finetune",
    "compute",
    "evaluate",
)


def held_out_split(manifest: pd.DataFrame) -> str:
    """``test`` when the data has one; else ``val`` (e.g. a folder with train/ and val/)."""
    return "test" if (manifest["split"] == "test").any() else "val"


def class_names(class_map: dict[str, int]) -> list[str]:
    return [name for name, _ in sorted(class_map.items(), key=lambda item: item[1])]


def split_images(manifest: pd.DataFrame, split: str, input_options: dict, image_size):
    """One split's (uint8 images, class indices) batches in manifest order, read as for
    prediction: no augmentation, no cache, at ``image_size``."""
    arguments = {
        **input_arguments(input_options, None),
        "cache": "none",
        "image_size": tuple(image_size),
    }
    return image_dataset(manifest, split, shuffle=False, seed=0, **arguments)


def split_probabilities(
    model: keras.Model, manifest: pd.DataFrame, split: str, input_options: dict
) -> np.ndarray:
    """Class probabilities of one split's images, in manifest order, at the model's input
    size (prediction and evaluation read images exactly alike)."""
    images = split_images(manifest, split, input_options, model.input_shape[1:3])
    return np.asarray(model.predict(images, verbose=0), dtype="float64")


def predict_held_out(
    model: keras.Model, manifest: pd.DataFrame, class_map: dict[str, int], input_options: dict
) -> pd.DataFrame:
    """One row per held-out image: path, true and predicted label, class probabilities."""
    split = held_out_split(manifest)
    rows = manifest[manifest["split"] == split]
    table = prediction_table(
        rows["path"].tolist(),
        rows["class_index"].to_numpy(),
        split_probabilities(model, manifest, split, input_options),
        class_names(class_map),
    )
    table.insert(1, "split", split)
    return table


def score_predictions(
    predictions: pd.DataFrame, class_map: dict[str, int], options: dict
) -> tuple[dict, plt.Figure]:
    """Metrics (scikit-learn) and the confusion-matrix figure of a prediction table."""
    names = class_names(class_map)
    probabilities = predictions[[f"p_{name}" for name in names]].to_numpy()
    y_true = predictions["true_label"].map(class_map).to_numpy()
    metrics = classification_metrics(y_true, probabilities, names, top_k=options["top_k"])
    metrics["evaluated_split"] = str(predictions["split"].iloc[0])
    matrix = confusion(y_true, probabilities.argmax(axis=1), len(names))
    title = f"{options.get('title', 'Confusion matrix')} ({metrics['evaluated_split']} split)"
    return metrics, confusion_matrix_figure(matrix, names, title)


def _confusion(predictions: pd.DataFrame, class_map: dict[str, int]) -> np.ndarray:
    return confusion(
        predictions["true_label"].map(class_map).to_numpy(),
        predictions["predicted_label"].map(class_map).to_numpy(),
        len(class_map),
    )


def score_tables(
    metrics: dict, predictions: pd.DataFrame, class_map: dict[str, int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Precision, recall, F1 and support per class; the confusion matrix as counts and
    shares of each true class."""
    return per_class_table(metrics), confusion_table(
        _confusion(predictions, class_map), class_names(class_map)
    )


def held_out_images(
    rows: pd.DataFrame, manifest: pd.DataFrame, input_options: dict, image_size
) -> np.ndarray:
    """The uint8 images of some rows of a prediction table, in their order, as the model
    read them."""
    if rows.empty:
        return np.zeros((0, *image_size, 3), dtype="uint8")
    chosen = manifest.set_index("path").loc[rows["path"]].reset_index()
    options = {**input_options, "batch_size": len(chosen)}
    images = split_images(chosen, rows["split"].iloc[0], options, image_size)
    return np.concatenate([batch.numpy() for batch, _ in images])


def build_report(
    model: keras.Model,
    predictions: pd.DataFrame,
    metrics: dict,
    history: pd.DataFrame,
    manifest: pd.DataFrame,
    class_map: dict[str, int],
    ingestion_summary: dict,
    input_options: dict,
    options: dict,
    parameters: dict,
) -> tuple[plt.Figure, plt.Figure, str]:
    """The most confidently wrong held-out images, Grad-CAM heat maps over a few of them
    (classes taking turns), and the HTML report that gathers them with the scores, data,
    learning curves, confusion matrix and the run's parameters."""
    counts, size = options["report"], model.input_shape[1:3]
    wrong = most_confident_mistakes(predictions, counts["misclassified"])
    mistakes = image_grid(
        held_out_images(wrong, manifest, input_options, size),
        example_titles(wrong),
        "Most confidently wrong: true → predicted, confidence",
    )
    sample = classes_take_turns(predictions, "true_label", counts["grad_cam"])
    images = held_out_images(sample, manifest, input_options, size)
    cams = grad_cam_grid(
        images, grad_cam(model, images), example_titles(sample), "Grad-CAM, predicted class"
    )
    curves = learning_curves(history, "Fine-tuning on the target task")
    matrix = confusion_matrix_figure(
        _confusion(predictions, class_map), class_names(class_map), "Confusion matrix"
    )
    report = evaluation_report(
        metrics=metrics,
        per_class=per_class_table(metrics),
        ingestion_summary=ingestion_summary,
        learning_curves=curves,
        confusion=matrix,
        mistakes=mistakes,
        mistaken_rows=wrong,
        grad_cams=cams,
        parameters={key: parameters[key] for key in REPORTED_PARAMETERS if key in parameters},
    )
    # Drawn for the page only; the saved figures are closed once saved.
    plt.close(curves)
    plt.close(matrix)
    return mistakes, cams, report


def compare_with_scratch(finetuned: dict, scratch: dict) -> dict:
    """Fine-tuned vs from-scratch on the same held-out split."""
    keys = ("accuracy", "top_k_accuracy", "macro_f1")
    return {
        "evaluated_split": finetuned["evaluated_split"],
        "num_test_images": finetuned["num_test_images"],
        "finetuned": {key: finetuned[key] for key in keys},
        "scratch": {key: scratch[key] for key in keys},
        "gain_from_pretraining": {key: finetuned[key] - scratch[key] for key in keys},
    }
