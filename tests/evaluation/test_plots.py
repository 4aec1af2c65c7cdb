"""Figures stay legible whatever the class names are."""

import io
import warnings

import numpy as np

from resnet_finetune.evaluation.plots import confusion_matrix_figure, display_name

ODD_NAMES = ["cat & dog", "sea lion (adult)", "o'brien, jr", "猫", "x" * 200]


def test_class_names_are_shortened_and_never_drawn_as_boxes():
    assert display_name("cat & dog") == "cat & dog"
    assert len(display_name("x" * 200)) == 24 and display_name("x" * 200).endswith("…")
    assert display_name("猫") in ("猫", "U+732B")  # the glyph, or its code point: no box
    figure = confusion_matrix_figure(np.eye(5, dtype=int) * 3, ODD_NAMES, "odd names")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing" when it draws a box
        figure.savefig(io.BytesIO(), format="png")
    labels = [tick.get_text() for tick in figure.axes[0].get_xticklabels()]
    assert labels == [display_name(name) for name in ODD_NAMES]
