"""Log every persisted output of a run to the MLflow run that kedro-mlflow opened."""

from __future__ import annotations

import logging
import platform
import subprocess
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec

from resnet_finetune.config import check_parameters
from resnet_finetune.data.manifest import dataset_sha256
from resnet_finetune.evaluation.report import flatten
from resnet_finetune.training import Compute, TrainingCheckpoint
from resnet_finetune.training.compute import make_deterministic

logger = logging.getLogger(__name__)

# Tables longer than this (a manifest of a million images) stay out of MLflow.
_MAX_TABLE_ROWS = 100_000
# Whose versions each run records, with Python's.
_LIBRARIES = ("resnet_finetune", "tensorflow", "keras", "kedro", "mlflow", "numpy")
# Saved models registered in the MLflow model registry, and under which name.
REGISTERED_MODELS = {"finetuned_model": "resnet_finetune"}


def _schema(tensors: list) -> Schema:
    """MLflow's description of Keras inputs or outputs, with the dtypes the model declares
    (uint8 images; ``mlflow.keras``'s own helper would say float32) and any batch size."""
    return Schema(
        [TensorSpec(np.dtype(t.dtype), [-1 if d is None else d for d in t.shape]) for t in tensors]
    )


def git_commit(path: Path) -> tuple[str, bool | None]:
    """The commit checked out at ``path`` and whether tracked files differ from it;
    ``("unknown", None)`` outside a git checkout or without git."""
    try:
        head, status = (
            subprocess.run(
                ["git", "-C", str(path), *command], capture_output=True, text=True, check=True
            ).stdout
            for command in (["rev-parse", "HEAD"], ["status", "--porcelain", "-uno"])
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown", None
    return head.strip(), bool(status.strip())


def _numeric_leaves(tree: dict, prefix: str = "") -> dict[str, float]:
    return {
        name: float(value)
        for name, value in flatten(tree, prefix).items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


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
        if dataset_name.rpartition(".")[2] == "manifest":
            # The images, labels and splits the run used, as "target.dataset_sha256".
            prefix = dataset_name.removesuffix("manifest")
            mlflow.set_tag(f"{prefix}dataset_sha256", dataset_sha256(data))
        if isinstance(data, plt.Figure):
            mlflow.log_figure(data, f"reports/{name}.png")
            plt.close(data)
        elif isinstance(data, keras.Model):
            self._log_model(name, data, REGISTERED_MODELS.get(dataset_name))
        elif isinstance(data, pd.DataFrame) and "epoch" in data:
            self._log_history(name, data)
        elif isinstance(data, pd.DataFrame) and len(data) <= _MAX_TABLE_ROWS:
            mlflow.log_table(data, f"tables/{name}.json")
        elif isinstance(data, str) and data.startswith("<!DOCTYPE html>"):
            mlflow.log_text(data, f"reports/{name}.html")
        elif isinstance(data, dict):
            mlflow.log_dict(data, f"reports/{name}.json")
            prefix = "" if dataset_name == "metrics" else f"{name}."
            mlflow.log_metrics(_numeric_leaves(data, prefix))

    @staticmethod
    def _log_model(name: str, model: keras.Model, registered_name: str | None) -> None:
        """The model with MLflow's keras flavour (loadable with ``mlflow.pyfunc``),
        registered as a new version of ``registered_name`` when one is given."""
        backend = keras.backend.backend()
        mlflow.keras.log_model(
            model,
            name=name,
            signature=ModelSignature(_schema(model.inputs), _schema(model.outputs)),
            registered_model_name=registered_name,
            # Given, not inferred: inferring loads the model in a subprocess (slow), which
            # fails anyway without this project's layers imported.
            pip_requirements=[f"keras=={keras.__version__}", f"{backend}=={version(backend)}"],
        )

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


def anchored_sqlite_uri(uri: str | None, root: Path) -> str | None:
    """``sqlite:///mlflow.db`` as ``sqlite:////<root>/mlflow.db``; other URIs as given."""
    prefix = "sqlite:///"
    if uri and uri.startswith(prefix) and not Path(uri.removeprefix(prefix)).is_absolute():
        return prefix + (root / uri.removeprefix(prefix)).as_posix()
    return uri


class MlflowRunHook:
    """Keeps the tracking database at the project root, names the MLflow run that
    kedro-mlflow opened after its pipeline and start time ("finetune 2026-11-28 03:40:12")
    and tags it with the project's git commit, the seed and the library versions."""

    def __init__(self):
        self._context = None

    # First: before kedro-mlflow reads mlflow.yml. It leaves a sqlite URI relative to the
    # working directory, so a notebook in notebooks/ would open a database of its own.
    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        self._context = context
        loader = context.config_loader
        loader.config_patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**", "**/mlflow*"])
        try:
            config = loader["mlflow"]
        except MissingConfigException:
            return
        server = config.setdefault("server", {})
        for key in ("mlflow_tracking_uri", "mlflow_registry_uri"):
            server[key] = anchored_sqlite_uri(server.get(key), Path(context.project_path))
        loader["mlflow"] = config  # what kedro-mlflow reads next

    # Last: after kedro-mlflow's before_pipeline_run has started the run.
    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict, catalog) -> None:
        run = mlflow.active_run()
        if run is None or self._context is None:
            return
        config = getattr(self._context, "mlflow", None)  # kedro-mlflow's mlflow.yml
        if config is not None and config.tracking.run.name is None:
            pipelines = "+".join(run_params.get("pipeline_names") or ["__default__"])
            name = f"{pipelines} {datetime.now():%Y-%m-%d %H:%M:%S}"
            mlflow.MlflowClient().update_run(run.info.run_id, name=name)
        commit, dirty = git_commit(self._context.project_path)
        mlflow.set_tag("git_commit", commit)
        if dirty is not None:
            mlflow.set_tag("git_dirty", str(dirty).lower())
        mlflow.set_tag("seed", catalog.load("parameters").get("seed"))
        versions = {name: version(name) for name in _LIBRARIES}
        mlflow.set_tags({f"version.{k}": v for k, v in versions.items()})
        mlflow.set_tag("version.python", platform.python_version())


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
        if compute.deterministic:
            make_deterministic()
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


class CheckpointCleanupHook:
    """A run that finishes removes the training checkpoints it resumed from or wrote;
    a run that fails or is killed keeps them for the next attempt."""

    @hook_impl
    def after_pipeline_run(self, catalog) -> None:
        checkpoint = TrainingCheckpoint.from_options(
            catalog.load("parameters").get("checkpoints"), ""
        )
        if checkpoint is not None:
            checkpoint.clear()
