"""Figures for the reports: learning curves, confusion matrix, reliability diagram, image
grids."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
from functools import cache, partial, update_wrapper  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.ft2font import FT2Font  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from resnet_finetune.evaluation.metrics import normalise_rows  # noqa: E402


@cache
def _drawable() -> frozenset[int]:
    """The characters the figures' font has glyphs for."""
    path = font_manager.findfont(font_manager.FontProperties(family=plt.rcParams["font.family"]))
    return frozenset(FT2Font(path).get_charmap())


def display_name(name: str, width: int = 24) -> str:
    """A class name as a figure shows it: at most ``width`` characters (an ellipsis
    marks the cut), and a character the font cannot draw written as its code point
    (``U+732B``) instead of an empty box. Tables and reports keep the full name."""
    drawable = _drawable()
    text = "".join(c if ord(c) in drawable or c.isspace() else f"U+{ord(c):04X}" for c in name)
    return text if len(text) <= width else text[: width - 1] + "…"


def learning_curves(history: pd.DataFrame, title: str) -> plt.Figure:
    """Loss and accuracy per epoch, train vs validation; each phase shaded and named in
    the legend (names written on the plot overlap when a phase is short)."""
    x = history["global_epoch"] if "global_epoch" in history else history["epoch"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.plot(x, history[metric], marker=".", label="train")
        if f"val_{metric}" in history:
            axis.plot(x, history[f"val_{metric}"], marker=".", label="validation")
        if "phase" in history:
            phases = history["phase"].ne(history["phase"].shift()).cumsum()
            for number, (_, epochs) in enumerate(x.groupby(phases)):
                phase = history.loc[epochs.index[0], "phase"]
                axis.axvspan(
                    epochs.min() - 0.5,
                    epochs.max() + 0.5,
                    color=f"C{number + 2}",
                    alpha=0.12,
                    label=f"phase {number + 1}: {phase}",
                )
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def titled_learning_curves(title: str):
    """``learning_curves`` with its title bound, keeping its name (a pipeline node per
    training history)."""
    return update_wrapper(partial(learning_curves, title=title), learning_curves)


def confusion_matrix_figure(matrix: np.ndarray, class_names: list[str], title: str) -> plt.Figure:
    """Counts and row-normalised confusion matrices side by side."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 5))
    for axis, values, fmt, name in (
        (axes[0], matrix, "d", "counts"),
        (axes[1], normalise_rows(matrix), ".2f", "normalised by true class"),
    ):
        labels = [display_name(name) for name in class_names]
        ConfusionMatrixDisplay(values, display_labels=labels).plot(
            ax=axis, values_format=fmt, colorbar=False, cmap="Blues"
        )
        axis.set_title(name)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def reliability_diagram(tables: dict[str, pd.DataFrame], title: str) -> plt.Figure:
    """Accuracy against mean confidence per confidence bin, one line per set of
    probabilities (``tables``: name → ``calibration.reliability_table``), beside the
    number of images per bin. On the diagonal, a confidence of 0.8 is right 80 % of the
    time; below it, the model is over-confident."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    axes[0].plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    for number, (name, table) in enumerate(tables.items()):
        filled = table[table["images"] > 0]
        axes[0].plot(filled["confidence"], filled["accuracy"], "o-", color=f"C{number}", label=name)
        centres = (table["lower"] + table["upper"]) / 2
        width = (table["upper"] - table["lower"]) / (len(tables) + 1)
        axes[1].bar(
            centres + (number - (len(tables) - 1) / 2) * width,
            table["images"],
            width,
            color=f"C{number}",
            label=name,
        )
    axes[0].set(
        xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top-1 probability)", ylabel="accuracy"
    )
    axes[1].set(xlim=(0, 1), xlabel="confidence (top-1 probability)", ylabel="images")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
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


def label_text(label: np.ndarray, class_names: dict[int, str]) -> str:
    """A class name, or for a mixed (MixUp/CutMix) label its two largest shares."""
    if np.ndim(label) == 0:
        return display_name(class_names[int(label)])
    top = np.argsort(label)[::-1][:2]
    if label[top[1]] < 0.01:
        return display_name(class_names[int(top[0])])
    return " / ".join(f"{display_name(class_names[int(i)], 12)} {label[i]:.0%}" for i in top)


def classes_take_turns(rows: pd.DataFrame, by: str, count: int) -> pd.DataFrame:
    """The first ``count`` rows when classes (column ``by``) take turns, so that every
    class shows up in a grid; within a class, rows keep their order."""
    turn = rows.groupby(by, sort=False).cumcount()
    return (
        rows.assign(_turn=turn)
        .sort_values(["_turn", by], kind="stable")
        .head(count)
        .drop(columns="_turn")
    )


def image_grid(
    images: np.ndarray,
    titles: list[str],
    title: str,
    heat_maps: list[np.ndarray | None] | None = None,
) -> plt.Figure:
    """uint8 images in a grid of up to eight columns, each with its title; a heat map in
    [0, 1] given for an image is drawn over it, half transparent."""
    columns = max(1, min(8, len(images)))
    rows = max(1, -(-len(images) // columns))
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(1.6 * columns, 2.0 * rows),
        squeeze=False,
        # No ticks: laying out dozens of hidden tick sets costs seconds.
        subplot_kw={"xticks": [], "yticks": []},
        # tight_layout lets two-line titles overlap the row above.
        layout="constrained",
    )
    for axis in axes.flat:
        axis.axis("off")
    if not len(images):
        axes[0, 0].text(0.5, 0.5, "no images", ha="center", va="center")
    heat_maps = heat_maps if heat_maps is not None else [None] * len(images)
    for axis, image, text, heat in zip(axes.flat, images, titles, heat_maps):
        axis.imshow(image, interpolation="nearest")
        if heat is not None:
            axis.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
        axis.set_title(text, fontsize=8)
    figure.suptitle(title)
    return figure


def _pair_titles(rows: pd.DataFrame, first: str, second: str, value: str) -> list[str]:
    """``first → second`` (class names as figures show them) and ``value`` per row."""
    return [
        f"{display_name(getattr(row, first), 12)} → {display_name(getattr(row, second), 12)}\n"
        f"{getattr(row, value):.2f}"
        for row in rows.itertuples()
    ]


def example_titles(predictions: pd.DataFrame) -> list[str]:
    """``true → predicted`` and the confidence, for rows of a prediction table."""
    return _pair_titles(predictions, "true_label", "predicted_label", "confidence")


def suspect_titles(suspects: pd.DataFrame) -> list[str]:
    """``given → suggested`` and the label-quality score, for rows of a suspects table."""
    return _pair_titles(suspects, "given_label", "suggested_label", "score")


def grad_cam_grid(
    images: np.ndarray, heat_maps: np.ndarray, titles: list[str], title: str
) -> plt.Figure:
    """Each image beside itself under its Grad-CAM heat map."""
    return image_grid(
        np.repeat(images, 2, axis=0),
        [text for image_title in titles for text in (image_title, "Grad-CAM")],
        title,
        [heat for heat_map in heat_maps for heat in (None, heat_map)],
    )
