"""Classification metrics computed with scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, class_names: list[str], top_k: int = 2
) -> dict:
    """Accuracy, top-k accuracy, macro F1 and per-class precision/recall/F1/support."""
    labels = np.arange(len(class_names))
    y_pred = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "top_k": int(top_k),
        # k >= the number of classes: every true label is among the top k (scikit-learn
        # says so in a warning, for every two-class folder).
        "top_k_accuracy": 1.0
        if top_k >= len(labels)
        else float(
            top_k_accuracy_score(
                y_true,
                # scikit-learn takes the positive class's score alone in the binary case.
                probabilities[:, 1] if len(labels) == 2 else probabilities,
                k=top_k,
                labels=labels,
            )
        ),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "num_test_images": int(len(y_true)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
    }


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    return confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row of a confusion matrix as shares of its true class (a class without test
    images stays at zero)."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix, dtype=float), where=totals > 0)


def confusion_table(matrix: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """One row per (true, predicted) pair: its count and its share of the true class."""
    true, predicted = np.meshgrid(class_names, class_names, indexing="ij")
    return pd.DataFrame(
        {
            "true_label": true.ravel(),
            "predicted_label": predicted.ravel(),
            "count": matrix.ravel(),
            "share_of_true_label": normalise_rows(matrix).ravel().round(6),
        }
    )


def per_class_table(metrics: dict) -> pd.DataFrame:
    """The ``per_class`` block of ``classification_metrics`` as a table, one row per class."""
    return (
        pd.DataFrame.from_dict(metrics["per_class"], orient="index")
        .rename_axis("label")[["precision", "recall", "f1", "support"]]
        .reset_index()
    )


def prediction_table(
    paths: list[str], y_true: np.ndarray, probabilities: np.ndarray, class_names: list[str]
) -> pd.DataFrame:
    """One row per image: its path, true and predicted label, confidence, correctness."""
    y_pred = probabilities.argmax(axis=1)
    names = np.asarray(class_names)
    table = pd.DataFrame(
        {
            "path": paths,
            "true_label": names[y_true],
            "predicted_label": names[y_pred],
            # Full precision, not rounded: the metrics, the confusion matrix and the
            # calibration are computed from this table, and rounding makes near-equal
            # probabilities (a flat, calibrated model) tie and change their argmax.
            "confidence": probabilities.max(axis=1),
            "correct": y_true == y_pred,
        }
    )
    for index, name in enumerate(class_names):
        table[f"p_{name}"] = probabilities[:, index]
    return table


def most_confident_mistakes(predictions: pd.DataFrame, count: int) -> pd.DataFrame:
    """The ``count`` wrong rows of a prediction table with the highest confidence."""
    wrong = predictions[~predictions["correct"].astype(bool)]
    return wrong.sort_values("confidence", ascending=False, kind="stable").head(count)


# The label of an image whose top probability is below ``min_confidence``.
UNSURE = "unsure"


def top_k_table(
    paths: list[str],
    probabilities: np.ndarray,
    class_names: list[str],
    top_k: int,
    min_confidence: float | None = None,
) -> pd.DataFrame:
    """One row per image: its path and its ``top_k`` labels with their probabilities.
    With ``min_confidence``, a ``label`` column after the path: the top label, or
    ``unsure`` where the top probability (as written, 6 decimals) is below it; the
    ``label_*`` columns keep the model's guesses."""
    top_k = min(top_k, len(class_names))
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
    names = np.asarray(class_names)
    table = pd.DataFrame({"path": paths})
    if min_confidence is not None:
        if UNSURE in class_names:
            raise ValueError(
                f"predict.min_confidence={min_confidence}: the model has a class named "
                f"{UNSURE!r}, which would be confused with the label of images below it; "
                "leave predict.min_confidence null, or rename that class folder and train again"
            )
        top = probabilities.max(axis=1).round(6)
        table["label"] = np.where(top < min_confidence, UNSURE, names[order[:, 0]])
    for rank in range(top_k):
        table[f"label_{rank + 1}"] = names[order[:, rank]]
        table[f"p_{rank + 1}"] = np.take_along_axis(probabilities, order[:, rank : rank + 1], 1)[
            :, 0
        ].round(6)
    return table


def prediction_summary(table: pd.DataFrame, min_confidence: float | None, tta: str) -> dict:
    """How many images a ``top_k_table`` labels, how many of them ``unsure``, and the
    images per label (the top label, or ``unsure``)."""
    labels = table["label"] if "label" in table else table["label_1"]
    return {
        "images": int(len(table)),
        "unsure": int((labels == UNSURE).sum()) if "label" in table else 0,
        "min_confidence": min_confidence,
        "tta": tta,
        "images_per_label": {str(k): int(v) for k, v in labels.value_counts().items()},
    }
