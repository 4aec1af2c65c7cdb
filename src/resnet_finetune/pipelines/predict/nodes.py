"""Batch prediction: every image under a folder → its top-k labels, bad files reported."""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import pandas as pd

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.listing import discover_unlabelled
from resnet_finetune.data.validation import validate_files
from resnet_finetune.evaluation.inference import PredictOptions, predict_probabilities
from resnet_finetune.evaluation.metrics import UNSURE, prediction_summary, top_k_table
from resnet_finetune.models.card import card_of

logger = logging.getLogger(__name__)


def find_images_to_predict(
    data_dir: str | None, validation: ImageChecks, intermediate_dir: str
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
    images, unreadable = validate_files(files, validation, Path(intermediate_dir) / "converted")
    report = pd.concat([skipped, unreadable], ignore_index=True)
    if images.empty:
        raise ValueError(f"predict.data_dir={str(data_dir)!r} holds no readable image")
    return images.assign(split="predict", class_index=0), report


def predict_images(
    model: keras.Model, images: pd.DataFrame, options: PredictOptions
) -> tuple[pd.DataFrame, dict]:
    """Top-``top_k`` labels and probabilities of each image, read as the model's card
    says (input size, resize mode) and named with the card's class names; ``unsure``
    below ``min_confidence``; and the count of images per label."""
    probabilities = predict_probabilities(model, images, tta=options.tta)
    names, threshold = card_of(model).class_names, options.min_confidence
    table = top_k_table(images["path"].tolist(), probabilities, names, options.top_k, threshold)
    summary = prediction_summary(table, threshold, options.tta)
    if threshold is not None:
        logger.info(
            "%d of %d images below predict.min_confidence=%s: labelled %r",
            summary["unsure"],
            summary["images"],
            threshold,
            UNSURE,
        )
    return table, summary
