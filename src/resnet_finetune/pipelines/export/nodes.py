"""Export nodes: the fine-tuned model in every format, then each export checked and
described (labels.txt, model.json) before the folder is saved."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import keras
import pandas as pd

from resnet_finetune.evaluation.inference import (
    held_out_rows,
    image_arrays,
    read_images,
    training_manifest,
)
from resnet_finetune.export import FORMATS, ExportOptions, check_exports, export_model
from resnet_finetune.export.description import model_description, write_description
from resnet_finetune.models.card import card_of
from resnet_finetune.models.resnet import save_model

logger = logging.getLogger(__name__)
FLOAT_FORMATS = ("saved_model", "onnx", "tflite_float32", "tflite_float16")


def export_finetuned_model(
    model: keras.Model, options: ExportOptions, seed: int, saved_manifests
) -> Path:
    """A folder with ``model.keras`` (with its card) and every format of
    ``export.formats``; int8 quantisation is calibrated on ``export.calibration_images``
    of the model's own training images (from ``saved_manifests``: the manifest of the
    model's version)."""
    manifest = training_manifest(model, saved_manifests)
    train = manifest[manifest["split"] == "train"]
    sample = train.sample(min(options.calibration_images, len(train)), random_state=seed)
    folder = Path(tempfile.mkdtemp(prefix="exports-"))
    save_model(model, folder / "model.keras")  # with its card, version and all
    calibration = image_arrays(model, sample)
    model(calibration[:1])  # Keras exports only a model that has been called once
    export_model(model, folder, calibration, options.formats)
    return folder


def check_model_exports(
    model: keras.Model, exports: Path, options: ExportOptions
) -> tuple[Path, pd.DataFrame]:
    """Every export of ``exports`` run in its own runtime on the model's held-out images:
    size, latency, top-1 agreement with the Keras model, accuracy and its change. A
    float export agreeing less than ``export.float_agreement`` is flagged and logged.
    The folder gains ``labels.txt`` and ``model.json`` with what was measured."""
    card = card_of(model)
    split = card.held_out_split
    paths = {"keras": exports / "model.keras"}
    paths.update({name: exports / FORMATS[name] for name in options.formats})
    dataset = read_images(model, held_out_rows(model))
    table = check_exports(paths, dataset.as_numpy_iterator, options.latency_repeats)
    table.insert(1, "split", split)
    floats = table["format"].isin(FLOAT_FORMATS)
    table["agreement_ok"] = ~floats | (table["top1_agreement"] >= options.float_agreement)
    for name in table.loc[~table["agreement_ok"], "format"]:
        logger.error(
            "export %s agrees with the Keras model on fewer than %.0f%% of the %s images",
            name,
            100 * options.float_agreement,
            split,
        )
    scores = {
        "split": split,
        "images": int(table["images"].iloc[0]),
        "accuracy": float(table["accuracy"].iloc[0]),
        "formats": {
            row.format: {"accuracy": row.accuracy, "top1_agreement": row.top1_agreement}
            for row in table.itertuples()
        },
    }
    write_description(exports, model_description(card, scores))
    return exports, table
