"""The fine-tuned model as an MLflow model that takes image files and answers with
class names: what a user serving it (``mlflow models serve``) needs, with the class
names of the model's own card — never those of another run.

Images are validated and read exactly as ``kedro run --pipeline predict`` reads them
(same checks, same conversion of palette/16-bit images, same resize), so the served
model and the predict pipeline give the same labels.
"""

from __future__ import annotations

import base64
import logging
import tempfile
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.validation import validate_files
from resnet_finetune.evaluation.inference import predict_probabilities
from resnet_finetune.models.card import card_of
from resnet_finetune.models.resnet import load_model

IMAGE_COLUMN = "image"


def signature(class_names: list[str]) -> ModelSignature:
    """Input: one base64-encoded image file per row (any format Pillow reads). Output:
    the label, its probability and one ``p_<class name>`` column per class."""
    outputs = [ColSpec("string", "label"), ColSpec("double", "probability")]
    outputs += [ColSpec("double", f"p_{name}") for name in class_names]
    return ModelSignature(Schema([ColSpec("string", IMAGE_COLUMN)]), Schema(outputs))


class ImageClassifier(mlflow.pyfunc.PythonModel):
    """``predict`` takes a DataFrame with a column ``image`` of base64-encoded files."""

    def load_context(self, context) -> None:
        self.model = load_model(context.artifacts["model"])
        self.card = card_of(self.model)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        with tempfile.TemporaryDirectory() as folder:
            paths = []
            for index, encoded in enumerate(model_input[IMAGE_COLUMN]):
                path = Path(folder) / f"{index:06d}"
                path.write_bytes(base64.b64decode(encoded))
                paths.append(str(path))
            files = pd.DataFrame({"path": paths, "label": "", "split": None})
            checks = ImageChecks(**self.card.parameters.get("target", {}).get("validation", {}))
            images, rejected = validate_files(files, checks, Path(folder) / "converted")
            if not rejected.empty:
                row = int(Path(rejected["path"].iloc[0]).name)
                raise ValueError(
                    f"row {row}: {rejected['reason'].iloc[0]} ({rejected['detail'].iloc[0]})"
                )
            probabilities = predict_probabilities(self.model, images.assign(class_index=0))
        names = np.asarray(self.card.class_names)
        table = pd.DataFrame(
            {"label": names[probabilities.argmax(axis=1)], "probability": probabilities.max(axis=1)}
        )
        for index, name in enumerate(names):
            table[f"p_{name}"] = probabilities[:, index]
        return table


def log_classifier(model_file: str | Path, name: str) -> str:
    """Log the ``.keras`` file (with its card) as an ``ImageClassifier`` named ``name`` to
    the active MLflow run; return the logged model's URI. Registering it is the caller's
    move, once the run is complete (``hooks.MlflowReportsHook``): a failed run's model is
    never a registered version."""
    from importlib.metadata import version

    import keras

    backend = keras.backend.backend()
    # MLflow warns that a Python object gets pickled (ImageClassifier is pickled by
    # reference to this installed module, which is what serving it needs) and that no
    # input example was given (one would make it load and run the model once more).
    pyfunc_logger = logging.getLogger("mlflow")
    level = pyfunc_logger.level
    pyfunc_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*input example", category=UserWarning)
            logged = mlflow.pyfunc.log_model(
                name=name,
                python_model=ImageClassifier(),
                artifacts={"model": str(model_file)},
                signature=signature(card_of(load_model(model_file)).class_names),
                # Given, not inferred: this project (installed) reads the images the same way.
                pip_requirements=[
                    f"resnet_finetune=={version('resnet_finetune')}",
                    f"keras=={keras.__version__}",
                    f"{backend}=={version(backend)}",
                ],
            )
    finally:
        pyfunc_logger.setLevel(level)
    return logged.model_uri
