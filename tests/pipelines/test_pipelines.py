"""Each registered pipeline, run with SequentialRunner on the embedded digits, tiny."""

import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest

from resnet_finetune.evaluation.inference import predict_probabilities
from resnet_finetune.models import load_model
from resnet_finetune.models.card import card_of, read_card
from resnet_finetune.pipeline_registry import register_pipelines
from tests.pipelines.conftest import latest, make_project, run_in, versions

METRICS = "data/08_reporting/metrics.json"
FINETUNED = "data/06_models/finetuned_model.keras"


def test_registered_pipelines():
    pipelines = register_pipelines()
    assert {"pretrain", "finetune", "transfer", "evaluate", "baseline", "__default__"} <= set(
        pipelines
    )
    assert pipelines["__default__"].outputs() == pipelines["finetune"].outputs()
    # finetune contains pretraining: it needs no earlier manual step.
    assert "pretrained_model" not in pipelines["finetune"].inputs()
    assert "pretrained_model" in pipelines["transfer"].inputs()


def test_finetune_writes_every_report(finetune_run):
    project = finetune_run
    metrics = json.loads(latest(project, "data/08_reporting/metrics.json").read_text())
    assert {"accuracy", "top_k_accuracy", "macro_f1", "num_test_images", "per_class"} <= set(
        metrics
    )
    assert set(metrics["per_class"]) == {"5", "6", "7", "8", "9"}
    assert 0 <= metrics["accuracy"] <= metrics["top_k_accuracy"] <= 1
    predictions = pd.read_csv(latest(project, "data/07_model_output/test_predictions.csv"))
    manifest = pd.read_csv(latest(project, "data/03_primary/target_manifest.csv"))
    # Every image not used for training or validation is scored, once.
    assert sorted(predictions["path"]) == sorted(manifest.loc[manifest["split"] == "test", "path"])
    assert metrics["num_test_images"] == len(predictions) == 896 - 5 * (6 + 4)
    assert metrics["accuracy"] == pytest.approx(predictions["correct"].mean())
    comparison = json.loads(
        latest(project, "data/08_reporting/scratch_comparison.json").read_text()
    )
    assert comparison["finetuned"]["accuracy"] == metrics["accuracy"]
    assert comparison["gain_from_pretraining"]["accuracy"] == pytest.approx(
        metrics["accuracy"] - comparison["scratch"]["accuracy"]
    )
    # The demo's baseline: the fine-tuned network, as many epochs as both phases.
    baseline = comparison["baseline"]
    assert (baseline["network"], baseline["image_size"], baseline["epochs"]) == (
        "resnet20 width 0.25",
        [8, 8],
        2,
    )
    assert baseline["seconds"] > 0
    history = pd.read_csv(latest(project, "data/08_reporting/finetune_history.csv"))
    assert history["phase"].tolist() == ["frozen backbone", "backbone unfrozen"]
    for name in (
        "pretrain_learning_curves",
        "finetune_learning_curves",
        "confusion_matrix",
        "source_augmentation_preview",
        "target_augmentation_preview",
    ):
        assert latest(project, f"data/08_reporting/{name}.png").stat().st_size > 10_000
    for model in ("pretrained_model", "finetuned_model"):
        assert latest(project, f"data/06_models/{model}.keras").stat().st_size > 0
    for task in ("source", "target"):
        assert (
            json.loads(
                latest(project, f"data/05_model_input/{task}_class_weights.json").read_text()
            )
            == {}
        )


def test_baseline_none_skips_it_and_a_baseline_network_trains_at_its_own_size(tmp_path):
    """`baseline=none`: the run completes without any baseline output and its report says
    so. Then the baseline alone with the network the recipe gives a pretrained start's
    baseline (another network, a larger size resized inside the model, its own epochs)."""
    project = make_project(tmp_path / "project")
    run_in(project, "finetune", baseline="none")
    reporting = project / "data" / "08_reporting"
    assert (
        not list(reporting.glob("scratch_*")) and not (reporting / "scratch_history.csv").exists()
    )
    assert latest(project, "data/08_reporting/metrics.json").exists()
    report = latest(project, "data/08_reporting/evaluation_report.html").read_text()
    assert "none (baseline: none): no from-scratch comparison" in report

    small = {"architecture": "resnet18", "width": 0.25, "image_size": [32, 32], "epochs": 1}
    run_in(project, "baseline", baseline=small)
    comparison = json.loads(
        latest(project, "data/08_reporting/scratch_comparison.json").read_text()
    )
    assert {k: comparison["baseline"][k] for k in ("network", "image_size", "epochs")} == {
        "network": "resnet18 width 0.25",
        "image_size": [32, 32],
        "epochs": 1,
    }


@pytest.fixture
def mlflow_client(finetune_run):
    """A client of the shared project's tracking database, which is also its registry;
    ``models:/`` URIs resolve there while the test runs."""
    uri = f"sqlite:///{finetune_run / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


def test_mlflow_run_is_named_tagged_and_registers_the_finetuned_model(finetune_run, mlflow_client):
    client = mlflow_client
    experiment = client.get_experiment_by_name("resnet_finetune")
    # Other tests' runs share this database (some stopped by bad input on purpose): the
    # shared fine-tuning run is the first that finished.
    run = min(
        (
            run
            for run in client.search_runs([experiment.experiment_id])
            if run.info.run_name.startswith("finetune ") and run.info.status == "FINISHED"
        ),
        key=lambda run: run.info.start_time,
    )
    run_id = run.info.run_id
    assert re.fullmatch(r"finetune \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", run.info.run_name)
    tags, params = run.data.tags, run.data.params
    assert tags["git_commit"] == "unknown" and "git_dirty" not in tags  # a copy outside git
    assert tags["seed"] == "42" and tags["version.keras"] == keras.__version__
    assert {"version.tensorflow", "version.kedro", "version.python"} <= set(tags)

    # kedro's session id is the version of everything the run saved.
    def saved(relative: str) -> Path:
        return finetune_run / relative / tags["run_id"] / Path(relative).name

    manifest = pd.read_csv(
        saved("data/03_primary/target_manifest.csv"), dtype=str, keep_default_na=False
    )
    rows = sorted("\t".join(row) for row in manifest[["sha256", "label", "split"]].values)
    assert tags["target.dataset_sha256"] == hashlib.sha256("\n".join(rows).encode()).hexdigest()
    assert len(tags["source.dataset_sha256"]) == 64

    # Nested parameters flattened, runtime overrides included.
    assert params["backbone.architecture"] == "resnet20"
    assert params["target.split.train_per_class"] == "6"
    # Blocks nodes receive typed (TrainingOptions, Compute): one parameter per key, too.
    assert params["finetune.training.weight_decay"] == "0.0005"
    assert params["compute.deterministic"] == "True"
    metrics = json.loads(saved("data/08_reporting/metrics.json").read_text())
    assert run.data.metrics["accuracy"] == pytest.approx(metrics["accuracy"])
    assert {"macro_f1", "top_k_accuracy", "pretrain_history.loss"} <= set(run.data.metrics)
    history = client.get_metric_history(run_id, "finetune_history.val_loss")
    assert sorted(point.step for point in history) == [1, 2]  # one per epoch of both phases
    reports = {Path(a.path).name for a in client.list_artifacts(run_id, "reports")}
    assert {"confusion_matrix.png", "metrics.json", "finetune_learning_curves.png"} <= reports

    # MLflow as users want it: the UI opens on the runs, the datasets show, and only
    # figures a person compares are metrics (no class maps, weights or summaries).
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"source images", "target images"}
    assert inputs["target images"].dataset.digest == tags["target.dataset_sha256"][:36]
    assert not [name for name in run.data.metrics if "class_map" in name or "weights" in name]
    assert len(run.data.metrics) < 50  # scores, calibration, histories, the comparison

    logged = client.search_logged_models(
        [experiment.experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    assert sorted(model.name for model in logged) == ["finetuned_model"]
    (registered,) = (
        version
        for version in client.search_model_versions("name = 'resnet_finetune'")
        if version.run_id == run_id
    )
    uri = f"models:/resnet_finetune/{registered.version}"
    assert "python_function" in mlflow.models.get_model_info(uri).flavors
    # The registered model takes image files and answers with the card's class names.
    test = manifest[manifest["split"] == "test"].head(6)
    encoded = [base64.b64encode((finetune_run / p).read_bytes()).decode() for p in test["path"]]
    served = mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"image": encoded}))
    model = load_model(saved("data/06_models/finetuned_model.keras"))
    with contextlib.chdir(finetune_run):  # the manifest's paths are the project's
        probabilities = predict_probabilities(model, test)
    names = np.array(card_of(model).class_names)
    assert served["label"].tolist() == names[probabilities.argmax(axis=1)].tolist()
    np.testing.assert_allclose(served[[f"p_{n}" for n in names]], probabilities, atol=1e-6)


def test_the_registered_model_is_served_over_http_with_class_names(finetune_run, run_pipeline):
    """``mlflow models serve`` on a free loopback port answers two posted images with the
    labels the predict pipeline gives them."""
    folder = finetune_run / "to_serve"
    digits = sorted((finetune_run / "data/01_raw/digits_5-9").rglob("*.png"))[:2]
    folder.mkdir(exist_ok=True)
    for digit in digits:
        (folder / digit.name).write_bytes(digit.read_bytes())
    run_pipeline("predict", predict={"data_dir": str(folder), "top_k": 1})
    predicted = pd.read_csv(latest(finetune_run, "data/07_model_output/predictions.csv"), dtype=str)
    expected = dict(zip(predicted["path"].map(lambda p: Path(p).name), predicted["label_1"]))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"sqlite:///{finetune_run / 'mlflow.db'}"
    environment = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/resnet_finetune/1",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=environment,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = json.dumps(
            {
                "dataframe_split": {
                    "columns": ["image"],
                    "data": [[base64.b64encode(d.read_bytes()).decode()] for d in digits],
                }
            }
        ).encode()
        deadline = time.monotonic() + 180
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    body,
                    {"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = json.loads(response.read())
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and server.poll() is None, (
                    "server never answered"
                )
                time.sleep(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    labels = [row["label"] for row in answer["predictions"]]
    assert labels == [expected[d.name] for d in digits]


def saved_versions(project, relative: str) -> list[Path]:
    """The files of every saved version of a versioned catalog entry, oldest first."""
    return [project / relative / v / Path(relative).name for v in versions(project, relative)]


def same_weights(first: Path, second: Path) -> bool:
    a, b = (keras.saving.load_model(path, compile=False).weights for path in (first, second))
    return all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a, b, strict=True))


def test_transfer_reuses_the_latest_pretrained_model_and_adds_versions(finetune_run, run_pipeline):
    project = finetune_run
    pretrained_before = versions(project, "data/06_models/pretrained_model.keras")
    before, reports_before = versions(project, FINETUNED), versions(project, METRICS)
    run_pipeline("transfer")
    assert versions(project, "data/06_models/pretrained_model.keras") == pretrained_before
    after = versions(project, FINETUNED)
    assert len(after) == len(before) + 1 and after[: len(before)] == before
    assert len(versions(project, METRICS)) == len(reports_before) + 1


def test_evaluate_scores_the_latest_finetuned_model(finetune_run, run_pipeline):
    project = finetune_run
    count = len(versions(project, "data/08_reporting/metrics.json"))
    run_pipeline("evaluate")
    assert len(versions(project, "data/08_reporting/metrics.json")) == count + 1
    first, last = (
        json.loads((project / "data/08_reporting/metrics.json" / v / "metrics.json").read_text())
        for v in versions(project, "data/08_reporting/metrics.json")[-2:]
    )
    # Same model, same test split, same numbers.
    assert first["accuracy"] == last["accuracy"]


def test_pretrain_alone_repeats_the_pretrained_weights_exactly(finetune_run, run_pipeline):
    pretrained = "data/06_models/pretrained_model.keras"
    count = len(versions(finetune_run, pretrained))
    run_pipeline("pretrain")
    models = saved_versions(finetune_run, pretrained)
    assert len(models) == count + 1
    # Same seed, same data: the same weights as the finetune run's pretraining, bit for bit.
    assert same_weights(models[0], models[-1])


def test_degradation_writes_curves_and_a_table(project, run_pipeline):
    run_pipeline(
        "degradation",
        degradation={
            "input": {"image_size": [8, 8], "batch_size": 256},
            "networks": ["plain20", "resnet20"],
            "width": 0.25,
            "training": {"epochs": 2},
        },
    )
    table = pd.read_csv(latest(project, "data/08_reporting/degradation_table.csv"))
    assert table["network"].tolist() == ["plain20", "resnet20"]
    assert table["shortcuts"].tolist() == [False, True]
    assert table["layers"].tolist() == [20, 20]
    assert table["train_error"].between(0, 1).all() and table["val_error"].between(0, 1).all()
    history = pd.read_csv(latest(project, "data/08_reporting/degradation_history.csv"))
    assert history.groupby("network")["epoch"].max().to_dict() == {"plain20": 2, "resnet20": 2}
    assert latest(project, "data/08_reporting/degradation_curves.png").stat().st_size > 10_000


def test_predict_labels_every_readable_image_and_reports_the_rest(finetune_run, run_pipeline):
    folder = finetune_run / "new_images"
    digits = sorted((finetune_run / "data/01_raw/digits_5-9").rglob("*.png"))[:5]
    (folder / "nested").mkdir(parents=True)
    for index, digit in enumerate(digits):
        (folder / ("nested" if index % 2 else "") / f"{index}.png").write_bytes(digit.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    (folder / ".DS_Store").write_bytes(b"\0")
    run_pipeline("predict", predict={"data_dir": str(folder), "top_k": 2})
    predictions = pd.read_csv(latest(finetune_run, "data/07_model_output/predictions.csv"))
    report = pd.read_csv(latest(finetune_run, "data/08_reporting/prediction_report.csv"))
    assert len(predictions) == 5 and list(predictions.columns) == [
        "path",
        "label_1",
        "p_1",
        "label_2",
        "p_2",
    ]
    assert set(predictions["label_1"].astype(str)) <= {"5", "6", "7", "8", "9"}
    assert (predictions["p_1"] >= predictions["p_2"]).all() and (predictions["p_1"] <= 1).all()
    assert sorted(report["reason"]) == ["hidden", "not an image"]


def test_predict_labels_images_below_min_confidence_unsure(finetune_run, run_pipeline):
    folder = finetune_run / "unsure_images"
    folder.mkdir()
    for index, digit in enumerate(
        sorted((finetune_run / "data/01_raw/digits_5-9").rglob("*.png"))[:6]
    ):
        (folder / f"{index}.png").write_bytes(digit.read_bytes())
    options = {"data_dir": str(folder), "top_k": 2, "tta": "flip"}
    run_pipeline("predict", predict={**options, "min_confidence": 0.5})
    predictions = pd.read_csv(
        latest(finetune_run, "data/07_model_output/predictions.csv"), dtype=str
    )
    summary = json.loads(
        latest(finetune_run, "data/08_reporting/prediction_summary.json").read_text()
    )
    below = predictions["p_1"].astype(float) < 0.5
    assert predictions.columns.tolist()[:3] == ["path", "label", "label_1"]
    assert (predictions.loc[below, "label"] == "unsure").all()
    assert (predictions.loc[~below, "label"] == predictions.loc[~below, "label_1"]).all()
    assert summary["images"] == 6 and summary["unsure"] == int(below.sum())
    assert summary["min_confidence"] == 0.5 and summary["tta"] == "flip"


def test_export_writes_every_format_and_checks_each_in_its_runtime(finetune_run, run_pipeline):
    project = finetune_run
    run_pipeline("export")
    [version] = versions(project, "data/06_models/exports")
    folder = project / "data/06_models/exports" / version / "exports"
    assert {p.name for p in folder.iterdir()} == {
        "model.keras",
        "saved_model",
        "model.onnx",
        "model_float32.tflite",
        "model_float16.tflite",
        "model_int8.tflite",
        "labels.txt",
        "model.json",
    }
    class_names = read_card(folder / "model.keras").class_names
    assert (folder / "labels.txt").read_text(encoding="utf-8").splitlines() == class_names
    about = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert about["class_names"] == class_names
    # the model's catalog version and weights, as its card records them
    model_version = versions(project, "data/06_models/finetuned_model.keras")[-1]
    assert about["model"]["version"] == model_version
    assert about["model"]["weights_sha256"] == read_card(folder / "model.keras").weights_sha256
    report = pd.read_csv(latest(project, "data/08_reporting/export_report.csv"))
    assert report["format"].tolist() == [
        "keras",
        "saved_model",
        "onnx",
        "tflite_float32",
        "tflite_float16",
        "tflite_int8",
    ]
    metrics = json.loads(latest(project, "data/08_reporting/metrics.json").read_text())
    keras_row = report.iloc[0]
    # The reference row is the fine-tuned model as evaluation scored it.
    assert keras_row["accuracy"] == pytest.approx(metrics["accuracy"])
    assert about["scores"]["accuracy"] == pytest.approx(metrics["accuracy"])
    assert keras_row["images"] == metrics["num_test_images"]
    assert (report.iloc[1:5]["top1_agreement"] >= 0.99).all()
    assert report["agreement_ok"].all()
    assert (report["latency_ms"] > 0).all()
    size = report.set_index("format")["size_mib"]
    assert 0 < size["tflite_int8"] < size["tflite_float16"] < size["tflite_float32"]
