"""Same seed, same numbers: a second `finetune` run repeats the first exactly on CPU."""

import json

import keras
import numpy as np

from tests.pipelines.conftest import versions


def load_version(project, relative, version):
    return project / relative / version / relative.rsplit("/", 1)[-1]


# The shared project's other tests count versions relative to what they find, and pick
# the fixture's MLflow run as the first finetune run that finished.


def test_two_seeded_runs_give_identical_metrics_and_weights(finetune_run, run_pipeline):
    project = finetune_run
    metrics_path, model_path = (
        "data/08_reporting/metrics.json",
        "data/06_models/finetuned_model.keras",
    )
    first_metrics, first_model = (
        versions(project, metrics_path)[0],
        versions(project, model_path)[0],
    )
    run_pipeline("finetune")
    last_metrics, last_model = (
        versions(project, metrics_path)[-1],
        versions(project, model_path)[-1],
    )
    assert last_metrics != first_metrics
    first, last = (
        json.loads(load_version(project, metrics_path, v).read_text())
        for v in (first_metrics, last_metrics)
    )
    assert first == last
    weights = [
        keras.saving.load_model(load_version(project, model_path, v), compile=False).weights
        for v in (first_model, last_model)
    ]
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
