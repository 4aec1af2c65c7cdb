"""Log every persisted output of a run to the MLflow run that kedro-mlflow opened."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from resnet_finetune.config import check_parameters
from resnet_finetune.training import Compute

logger = logging.getLogger(__name__)

# Tables longer than this (a manifest of a million images) stay out of MLflow.
_MAX_TABLE_ROWS = 100_000


def _numeric_leaves(tree: dict, prefix: str = "") -> dict[str, float]:
    leaves = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            leaves.update(_numeric_leaves(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            leaves[name] = float(value)
    return leaves


class MlflowReportsHook:
    """Figures, tables, metrics, per-epoch histories and models become MLflow records.

    Only datasets that the catalog persists are logged; in-memory hand-overs are not.
    Nothing happens outside an active MLflow run.
    """

    def __init__(self):
        self._catalog = None

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data) -> None:
        if mlflow.active_run() is None or self._catalog is None:
            return
        if isinstance(self._catalog.get(dataset_name), MemoryDataset):
            return
        name = dataset_name.replace(".", "_")
        if isinstance(data, plt.Figure):
            mlflow.log_figure(data, f"reports/{name}.png")
            plt.close(data)
        elif isinstance(data, keras.Model):
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"{name}.keras"
                data.save(path)
                mlflow.log_artifact(str(path), "models")
        elif isinstance(data, pd.DataFrame) and "epoch" in data:
            self._log_history(name, data)
        elif isinstance(data, pd.DataFrame) and len(data) <= _MAX_TABLE_ROWS:
            mlflow.log_table(data, f"tables/{name}.json")
        elif isinstance(data, dict):
            mlflow.log_dict(data, f"reports/{name}.json")
            prefix = "" if dataset_name == "metrics" else f"{name}."
            mlflow.log_metrics(_numeric_leaves(data, prefix))

    @staticmethod
    def _log_history(name: str, history: pd.DataFrame) -> None:
        """Per-epoch metrics; a history of several networks gets one series per network."""
        step_column = "global_epoch" if "global_epoch" in history else "epoch"
        metrics = history.select_dtypes("number").drop(
            columns=["epoch", "global_epoch"], errors="ignore"
        )
        networks = history["network"] + "." if "network" in history else [""] * len(history)
        for step, network, row in zip(history[step_column], networks, metrics.to_dict("records")):
            mlflow.log_metrics(
                {f"{name}.{network}{k}": float(v) for k, v in row.items()}, step=int(step)
            )


class ParameterCheckHook:
    """Stop a run with a clear message before any node runs if a parameter is wrong."""

    # First of all before_pipeline_run hooks: before kedro-mlflow opens an MLflow run that
    # an error here would leave open.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline, catalog) -> None:
        parameters = catalog.load("parameters")
        # The distribution strategy first, before any TensorFlow operation runs (the
        # checks below build Keras layers): a MultiWorkerMirroredStrategy can only be
        # made before the first one.
        compute = Compute.from_options(parameters.get("compute"))
        replicas = compute.replicas
        logger.info("training: %s, %d replica(s)", compute.policy, replicas)
        check_parameters(parameters)
        if "pretrained_model" in pipeline.inputs() and not catalog.exists("pretrained_model"):
            weights = parameters["backbone"]["weights"]
            if weights == "pretrain":
                raise ValueError(
                    "backbone.weights='pretrain' needs a pretrained model, and none has been "
                    "saved yet: run `kedro run --pipeline finetune` (or `--pipeline pretrain`) "
                    "first, or set backbone.weights to imagenet, none or a model file"
                )
            # Any other choice does not read it: stand in for the missing model.
            catalog["pretrained_model"] = f"not used: backbone.weights={weights!r}"
        if "finetuned_model" in pipeline.inputs() and not catalog.exists("finetuned_model"):
            raise ValueError(
                "no fine-tuned model has been saved yet: run `kedro run --pipeline finetune` "
                "first (or pass --load-versions finetuned_model:VERSION)"
            )
