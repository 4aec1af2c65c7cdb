"""Figures for the reports: learning curves, confusion matrix, image grids."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def learning_curves(history: pd.DataFrame, title: str) -> plt.Figure:
    """Loss and accuracy per epoch, train vs validation; phase boundaries marked."""
    x = history["global_epoch"] if "global_epoch" in history else history["epoch"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.plot(x, history[metric], marker=".", label="train")
        if f"val_{metric}" in history:
            axis.plot(x, history[f"val_{metric}"], marker=".", label="validation")
        if "phase" in history:
            starts = x[history["phase"] != history["phase"].shift()]
            for start, phase in zip(starts, history.loc[starts.index, "phase"]):
                axis.axvline(start - 0.5, color="grey", linestyle="--", linewidth=0.8)
                axis.annotate(
                    phase,
                    (start - 0.4, 1.0),
                    xycoords=("data", "axes fraction"),
                    va="top",
                    fontsize=8,
                    color="grey",
                )
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def confusion_matrix_figure(matrix: np.ndarray, class_names: list[str], title: str) -> plt.Figure:
    """Counts and row-normalised confusion matrices side by side."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 5))
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros_like(matrix, dtype=float), where=totals > 0)
    for axis, values, fmt, name in (
        (axes[0], matrix, "d", "counts"),
        (axes[1], normalised, ".2f", "normalised by true class"),
    ):
        ConfusionMatrixDisplay(values, display_labels=class_names).plot(
            ax=axis, values_format=fmt, colorbar=False, cmap="Blues"
        )
        axis.set_title(name)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def degradation_curves(history: pd.DataFrame, title: str) -> plt.Figure:
    """Training and validation error per epoch, one line per network (as the paper's Fig. 6):
    plain networks dashed, residual ones solid."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, column, label in (
        (axes[0], "accuracy", "training error"),
        (axes[1], "val_accuracy", "validation error"),
    ):
        for network, rows in history.groupby("network", sort=False):
            style = "--" if network.startswith("plain") else "-"
            axis.plot(rows["epoch"], 1 - rows[column], style, label=network)
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.set_yscale("log")
        axis.grid(alpha=0.3, which="both")
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _label_text(label: np.ndarray, class_names: dict[int, str]) -> str:
    """A class name, or for a mixed (MixUp/CutMix) label its two largest shares."""
    if np.ndim(label) == 0:
        return class_names[int(label)]
    top = np.argsort(label)[::-1][:2]
    if label[top[1]] < 0.01:
        return class_names[int(top[0])]
    return " / ".join(f"{class_names[int(i)]} {label[i]:.0%}" for i in top)


def image_grid(
    images: np.ndarray, labels: np.ndarray, class_names: dict[int, str], title: str
) -> plt.Figure:
    """uint8 images in a grid of up to eight columns, each titled with its label."""
    columns = min(8, len(images))
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, label in zip(axes.flat, images, labels):
        axis.imshow(image, interpolation="nearest")
        axis.set_title(_label_text(label, class_names), fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
