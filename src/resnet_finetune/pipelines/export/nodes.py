"""Export nodes: the fine-tuned model in every format, then each export checked."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from resnet_finetune.export import FORMATS, check_exports, export_model
from resnet_finetune.models import load_model
from resnet_finetune.pipelines.evaluate.nodes import held_out_split, split_images

logger = logging.getLogger(__name__)
FLOAT_FORMATS = ("saved_model", "onnx", "tflite_float32", "tflite_float16")


def export_finetuned_model(
    model: keras.Model, manifest: pd.DataFrame, input_options: dict, options: dict, seed: int
) -> Path:
    """A folder with ``model.keras`` and every format of ``export.formats``; int8
    quantisation is calibrated on ``export.calibration_images`` training images."""
    train = manifest[manifest["split"] == "train"]
    sample = train.sample(min(options["calibration_images"], len(train)), random_state=seed)
    batches = split_images(sample, "train", input_options, model.input_shape[1:3])
    calibration = np.concatenate([images.numpy() for images, _ in batches])
    folder = Path(tempfile.mkdtemp(prefix="exports-"))
    model.save(folder / "model.keras")
    export_model(model, folder, calibration, options["formats"])
    return folder


def check_model_exports(
    exports: Path, manifest: pd.DataFrame, input_options: dict, options: dict
) -> pd.DataFrame:
    """Every export of ``exports`` run in its own runtime on the held-out images: size,
    latency, top-1 agreement with the Keras model, accuracy and its change. A float
    export agreeing less than ``export.float_agreement`` is flagged and logged."""
    split = held_out_split(manifest)
    paths = {"keras": exports / "model.keras"}
    paths.update({name: exports / FORMATS[name] for name in options["formats"]})
    image_size = load_model(paths["keras"]).input_shape[1:3]
    dataset = split_images(manifest, split, input_options, image_size)
    table = check_exports(paths, dataset.as_numpy_iterator, options["latency_repeats"])
    table.insert(1, "split", split)
    floats = table["format"].isin(FLOAT_FORMATS)
    table["agreement_ok"] = ~floats | (table["top1_agreement"] >= options["float_agreement"])
    for name in table.loc[~table["agreement_ok"], "format"]:
        logger.error(
            "export %s agrees with the Keras model on fewer than %.0f%% of the %s images",
            name,
            100 * options["float_agreement"],
            split,
        )
    return table
