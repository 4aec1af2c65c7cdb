"""Report nodes shared by several pipelines."""

from __future__ import annotations

from functools import partial, update_wrapper

import matplotlib.pyplot as plt
import pandas as pd

from resnet_finetune.evaluation.plots import learning_curves


def plot_history(history: pd.DataFrame, title: str) -> plt.Figure:
    """Learning curves of one training history."""
    return learning_curves(history, title)


def titled(title: str):
    """``plot_history`` with its title bound, keeping its name for Kedro."""
    return update_wrapper(partial(plot_history, title=title), plot_history)
