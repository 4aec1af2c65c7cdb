"""Project settings: hooks and configuration loading."""

from resnet_finetune.hooks import MlflowReportsHook, ParameterCheckHook

# kedro-mlflow's own hook (found through its entry point) opens one MLflow run per
# pipeline run and logs the parameters; this one adds the reports, histories and models.
HOOKS = (ParameterCheckHook(), MlflowReportsHook())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
