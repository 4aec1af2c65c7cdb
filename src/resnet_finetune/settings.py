"""Project settings: hooks and configuration loading."""

from __future__ import annotations

from typing import Any

from kedro.config import OmegaConfigLoader

from resnet_finetune import quiet  # first: library noise turned down before any import
from resnet_finetune.cli import RunSummary
from resnet_finetune.context import ProjectContext
from resnet_finetune.errors import ParameterError
from resnet_finetune.recipe import AUTO  # light: the recipe imports its heavy parts lazily

with quiet.native_stderr_silenced():  # TensorFlow's start-up lines, if hooks import it
    from resnet_finetune.hooks import (
        CheckpointCleanupHook,
        ComputeHook,
        MlflowParametersHook,
        MlflowReportsHook,
        MlflowRunHook,
        NoBaselineHook,
        OwnOutputsHook,
        PretrainingHook,
        RunRecordHook,
        SavedModelCheckHook,
    )
quiet.quiet_warnings()  # again: importing TensorFlow resets the warning filters

# kedro-mlflow's hook opens one MLflow run per pipeline run and logs the parameters
# (MlflowParametersHook: kedro-mlflow's own, logging typed blocks key by key, registered
# here instead of the plugin's); MlflowRunHook names the run and tags the git commit,
# MlflowReportsHook adds the reports, histories, dataset hashes and models.
HOOKS = (
    SavedModelCheckHook(),
    RunRecordHook(),
    OwnOutputsHook(),
    MlflowRunHook(),
    MlflowReportsHook(),
    CheckpointCleanupHook(),
    NoBaselineHook(),
    PretrainingHook(),
    RunSummary(),
    # Last of those with tryfirst hooks: pluggy calls the tryfirst hooks last registered
    # first, and the compute must be set up before anything builds a Keras layer.
    ComputeHook(),
    # After every other: pluggy calls it before them, as it did the plugin's hook, which
    # Kedro registered after the project's (MlflowRunHook and RunRecordHook, trylast,
    # find its MLflow run open).
    MlflowParametersHook(),
)
# Its hook is MlflowParametersHook, above.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)

# Marks list items given on the command line for a list left `auto` (resnet_finetune.context).
PENDING_ITEMS = "__items_of_auto__"


def override(parameters: Any, overrides: Any, key: str = "") -> Any:
    """``parameters`` with ``overrides`` merged in: mappings key by key, anything else
    replaced, and a list item by item where ``overrides`` gives it as a mapping of
    indices (``finetune.phases.1.epochs=5`` on the command line arrives as
    ``{"finetune": {"phases": {"1": {"epochs": 5}}}}``)."""
    if not isinstance(overrides, dict):
        return overrides
    if parameters == AUTO and overrides and all(str(index).isdigit() for index in overrides):
        # Items of a list the recipe has yet to choose: applied once it has chosen it.
        return {PENDING_ITEMS: overrides}
    if isinstance(parameters, list):
        merged = list(parameters)
        for index, value in overrides.items():
            if not str(index).isdigit() or int(index) >= len(merged):
                raise ParameterError(
                    f"{key}.{index}: {key} is a list of {len(merged)} item(s); set one by its "
                    f"index 0 to {len(merged) - 1} ({key}.0.KEY=VALUE), or give the whole "
                    f"list ({key}=[...])"
                )
            merged[int(index)] = override(merged[int(index)], value, f"{key}.{index}")
        return merged
    if not isinstance(parameters, dict):
        return overrides
    merged = dict(parameters)
    for name, value in overrides.items():
        path = f"{key}.{name}" if key else str(name)
        merged[name] = override(merged[name], value, path) if name in merged else value
    return merged


class ConfigLoader(OmegaConfigLoader):
    """Kedro's loader, with ``--params`` (runtime parameters) applied by ``override``:
    an item of a list parameter can be set by its index, which OmegaConf's merge refuses
    ("Cannot merge incompatible container types")."""

    def __getitem__(self, key: str) -> Any:
        if key != "parameters":
            return super().__getitem__(key)
        runtime, self.runtime_params = self.runtime_params, {}
        try:
            parameters = super().__getitem__(key)
        except TypeError as error:  # OmegaConf, merging an environment's mapping over a list
            raise ParameterError(str(error)) from None
        finally:
            self.runtime_params = runtime
        return override(parameters, runtime) if runtime else parameters


CONFIG_LOADER_CLASS = ConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment (conf/<env>/, and conf/local/) that sets one nested key, e.g.
    # `target: {input: {image_size: [64, 64]}}`, changes that key only; Kedro's default
    # ("destructive") would replace the whole `target` block.
    "merge_strategy": {"parameters": "soft"},
}

# Parameters left `auto` are chosen for the data (resnet_finetune.recipe) once, before
# the catalog is built: nodes receive resolved values.
CONTEXT_CLASS = ProjectContext
