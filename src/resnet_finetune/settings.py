"""Project settings: hooks and configuration loading."""

from resnet_finetune.context import ProjectContext
from resnet_finetune.hooks import (
    CheckpointCleanupHook,
    MlflowReportsHook,
    MlflowRunHook,
    ParameterCheckHook,
    RunRecordHook,
)

# kedro-mlflow's own hook (found through its entry point) opens one MLflow run per
# pipeline run and logs the parameters; MlflowRunHook names it and tags the git commit,
# MlflowReportsHook adds the reports, histories, dataset hashes and models.
HOOKS = (
    ParameterCheckHook(),
    RunRecordHook(),
    MlflowRunHook(),
    MlflowReportsHook(),
    CheckpointCleanupHook(),
)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
}

# Parameters left `auto` are chosen for the data (resnet_finetune.recipe) once, before
# the catalog is built: nodes receive resolved values.
CONTEXT_CLASS = ProjectContext
