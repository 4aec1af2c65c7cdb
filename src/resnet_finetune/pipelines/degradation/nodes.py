"""The degradation experiment: plain vs residual networks, same data, budget and seed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from resnet_finetune.data.identity import data_identity
from resnet_finetune.data.input_pipeline import InputOptions
from resnet_finetune.evaluation.plots import degradation_curves
from resnet_finetune.training import Compute, TrainingCheckpoint
from resnet_finetune.training.checkpoints import CheckpointOptions
from resnet_finetune.training.degradation import compare_depths
from resnet_finetune.training.engine import TrainingOptions


def run_degradation_experiment(
    train_batches,
    val_batches,
    train_images,
    manifest: pd.DataFrame,
    class_map: dict[str, int],
    options: dict,
    training: TrainingOptions,
    input_options: InputOptions,
    compute: Compute,
    checkpoints: CheckpointOptions,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, plt.Figure]:
    """Per-epoch history, final-error table and curves of ``degradation.networks``."""
    history, table = compare_depths(
        options["networks"],
        train_batches,
        val_batches,
        train_images,
        num_classes=len(class_map),
        image_size=input_options.image_size,
        seed=seed,
        options=training,
        width=options["width"],
        compute=compute,
        checkpoint=TrainingCheckpoint.from_options(
            checkpoints,
            "degradation",
            data_identity(manifest, options, seed),
        ),
    )
    title = "Degradation: plain vs residual networks (dashed: plain)"
    return history, table, degradation_curves(history, title)
