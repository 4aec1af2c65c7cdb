"""The paper's degradation experiment, small: plain vs residual networks of two depths.

He et al. (2016), Fig. 1 and 6: a deeper *plain* network ends with a *higher* training
error than a shallower one, while with shortcuts the deeper network does at least as well.
"""

from __future__ import annotations

import keras
import pandas as pd

from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier
from resnet_finetune.models.resnet import ARCHITECTURES
from resnet_finetune.training.checkpoints import TrainingCheckpoint
from resnet_finetune.training.compute import Compute
from resnet_finetune.training.engine import TrainingOptions, train


def compare_depths(
    networks: list[str],
    train_data,
    val_data,
    train_eval_data,
    *,
    num_classes: int,
    image_size: tuple[int, int],
    seed: int,
    options: TrainingOptions,
    width: float = 1.0,
    compute: Compute | None = None,
    checkpoint: TrainingCheckpoint | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train each network with the same data, budget and seed.

    Returns ``(history, table)``: per-epoch metrics of every network (long format), and
    one row per network with its final training error measured in inference mode on
    the un-augmented training images (``train_eval_data``) and its validation error.
    """
    histories, rows = [], []
    for name in networks:
        if name not in ARCHITECTURES:
            raise ValueError(
                f"degradation.networks: {name!r} is not a known network; "
                f"allowed: {sorted(ARCHITECTURES)}"
            )
        keras.utils.set_random_seed(seed)
        model = build_classifier(
            build_backbone(BackboneSpec(architecture=name, width=width)),
            num_classes,
            image_size=image_size,
        )
        history = train(
            model,
            train_data,
            val_data,
            options=options,
            compute=compute,
            checkpoint=checkpoint and checkpoint.child(name),
        )
        history.insert(0, "network", name)
        histories.append(history)
        _, train_accuracy = model.evaluate(train_eval_data, verbose=0)
        _, val_accuracy = model.evaluate(val_data, verbose=0)
        rows.append(
            {
                "network": name,
                "layers": int(name.removeprefix("plain").removeprefix("resnet")),
                "shortcuts": ARCHITECTURES[name].residual,
                "parameters": model.count_params(),
                "train_error": round(1 - float(train_accuracy), 6),
                "val_error": round(1 - float(val_accuracy), 6),
            }
        )
    return pd.concat(histories, ignore_index=True), pd.DataFrame(rows)
