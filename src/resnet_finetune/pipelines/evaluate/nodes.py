"""Evaluation nodes: predict the held-out split, score it, compare with the baseline."""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from resnet_finetune.data.input_pipeline import image_dataset, input_arguments
from resnet_finetune.evaluation.metrics import (
    classification_metrics,
    confusion,
    prediction_table,
)
from resnet_finetune.evaluation.plots import confusion_matrix_figure


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
