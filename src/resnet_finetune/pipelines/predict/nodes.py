"""Batch prediction: every image under a folder → its top-k labels, bad files reported."""

from __future__ import annotations

from pathlib import Path

import keras
import pandas as pd

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.manifest import discover_unlabelled, validate_files
from resnet_finetune.evaluation.metrics import top_k_table
from resnet_finetune.pipelines.evaluate.nodes import class_names, split_probabilities


def find_images_to_predict(
    data_dir: str | None, validation: dict, intermediate_dir: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The readable images under ``predict.data_dir`` and a report of the other files,
    validated exactly as ingestion validates training images."""
    if data_dir is None or str(data_dir).strip() == "":
        raise ValueError(
            "predict.data_dir is not set: give the folder to predict, e.g. "
            "kedro run --pipeline predict --params predict.data_dir=/path/to/images"
        )
    if not Path(data_dir).expanduser().is_dir():
        raise FileNotFoundError(f"predict.data_dir={str(data_dir)!r} is not a folder")
    files, skipped = discover_unlabelled(Path(data_dir).expanduser())
    images, unreadable = validate_files(
        files, ImageChecks(**validation), Path(intermediate_dir) / "converted"
    )
    report = pd.concat([skipped, unreadable], ignore_index=True)
    if images.empty:
        raise ValueError(f"predict.data_dir={str(data_dir)!r} holds no readable image")
    return images.assign(split="predict", class_index=0), report


def predict_images(
    model: keras.Model,
    images: pd.DataFrame,
    class_map: dict[str, int],
    input_options: dict,
    top_k: int,
) -> pd.DataFrame:
    """Top-``top_k`` labels and probabilities of each image, in the model's input size."""
    probabilities = split_probabilities(model, images, "predict", input_options)
    names = class_names(class_map)
    if probabilities.shape[1] != len(names):
        raise ValueError(
            f"the model predicts {probabilities.shape[1]} classes but the class map names "
            f"{len(names)}: load the class map of the same run (--load-versions)"
        )
    return top_k_table(images["path"].tolist(), probabilities, names, top_k)
