"""One model, one truth: every output knows which run, data and model it belongs to.

Each test works in a project of its own (not the shared one), on small class folders
made from scikit-learn's digits, fine-tuning from random weights (no pretraining).
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from sklearn.datasets import load_digits

from resnet_finetune.models import load_model
from resnet_finetune.models.card import card_of
from resnet_finetune.pipelines.evaluate import nodes as evaluate_nodes
from tests.pipelines.conftest import ROOT, TINY, latest, make_project, merge, run_in, versions

FINETUNED = "data/06_models/finetuned_model.keras"
MANIFESTS = "data/03_primary/target_manifest.csv"
NO_PRETRAINING = {"backbone": {"weights": "none"}}


def digit_folder(root: Path, names: list[str], per_class: int = 30, layout=None) -> Path:
    """Class folders named ``names`` holding the digits 0, 1, 2… as 8×8 PNGs; ``layout``
    maps image numbers to declared split folders (train/, val/)."""
    digits = load_digits()
    for digit, name in enumerate(names):
        images = digits.images[digits.target == digit][:per_class]
        for index, pixels in enumerate(images):
            split = layout(index) if layout else ""
            path = root / split / name / f"{index:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((pixels * 15).astype("uint8")).convert("RGB").save(path)
    return root


def transfer(project: Path, data: Path, **params):
    target = merge({"data_dir": str(data)}, params.pop("target", {}))
    return run_in(project, "transfer", **merge(NO_PRETRAINING, {"target": target, **params}))


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "project")


def test_labels_and_the_held_out_split_come_from_the_model_itself(project, tmp_path):
    folder_a = digit_folder(tmp_path / "A", ["a", "b", "c"])
    folder_b = digit_folder(tmp_path / "B", ["x", "y", "z"])  # the same images, other names
    transfer(project, folder_a)
    [version_a] = versions(project, FINETUNED)
    transfer(project, folder_b)
    # predict with A's model after a run on B: A's names, whatever is "latest".
    run_in(
        project,
        "predict",
        load_versions={"finetuned_model": version_a},
        predict={"data_dir": str(folder_a), "top_k": 1},
    )
    predictions = pd.read_csv(latest(project, "data/07_model_output/predictions.csv"), dtype=str)
    assert set(predictions["label_1"]) <= {"a", "b", "c"}

    # evaluate with another seed scores exactly the images recorded with the model.
    run_in(project, "evaluate", load_versions={"finetuned_model": version_a}, seed=7)
    model = load_model(project / FINETUNED / version_a / "finetuned_model.keras")
    card = card_of(model)
    scored = pd.read_csv(latest(project, "data/07_model_output/test_predictions.csv"))
    assert sorted(scored["path"]) == sorted(card.held_out["path"])
    manifest_a = pd.read_csv(project / MANIFESTS / version_a / "target_manifest.csv")
    assert sorted(manifest_a.loc[manifest_a["split"] == "test", "path"]) == sorted(scored["path"])
    seen = set(manifest_a.loc[manifest_a["split"] != "test", "path"])
    assert not seen & set(scored["path"])
    # Its label suspects rank A's manifest (the model's version), not the latest run's (B).
    suspects = pd.read_csv(latest(project, "data/08_reporting/label_suspects.csv"))
    assert sorted(suspects["path"]) == sorted(manifest_a["path"])
    summary = json.loads(
        latest(project, "data/08_reporting/label_suspects_summary.json").read_text()
    )
    assert summary["ranked"] == "every labelled image"
    assert set(scored["true_label"]) == {"a", "b", "c"}
    metrics = json.loads(latest(project, "data/08_reporting/metrics.json").read_text())
    assert metrics["evaluated_split"] == "test" and metrics["selection_split"] == "val"


def test_a_failed_run_is_never_latest_and_its_resume_state_survives_an_evaluate(
    project, tmp_path, monkeypatch, caplog
):
    folder = digit_folder(tmp_path / "A", ["a", "b", "c"])
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")

    def registered_versions() -> dict:
        """The registry's versions (earlier tests of this module registered some too)."""
        if not (project / "mlflow.db").exists():
            return {}
        return {v.version: v for v in client.search_model_versions("name='resnet_finetune'")}

    earlier = registered_versions()
    transfer(project, folder)
    complete_manifests = versions(project, "data/03_primary/target_manifest.csv")
    [registered] = [v for key, v in registered_versions().items() if key not in earlier]
    assert client.get_run(registered.run_id).info.status == "FINISHED"

    def fails_after_training(model):
        raise RuntimeError("killed after training")

    monkeypatch.setattr(evaluate_nodes, "held_out_rows", fails_after_training)
    with pytest.raises(RuntimeError, match="killed after training"):
        transfer(project, folder, seed=5)
    monkeypatch.undo()
    # The failed run's outputs are kept aside, not "latest"; its record says why.
    assert versions(project, "data/03_primary/target_manifest.csv") == complete_manifests
    [record] = [
        json.loads(p.read_text())
        for p in (project / "data/runs").glob("*.json")
        if json.loads(p.read_text())["status"] == "failed"
    ]
    assert "killed after training" in record["reason"]
    assert any("target_manifest.csv" in output for output in record["outputs"])
    # Its model was saved and logged, but never registered: "latest" is the complete run's.
    assert any("finetuned_model.keras" in output for output in record["outputs"])
    failed_run = client.get_run(record["mlflow_run_id"])
    assert failed_run.info.status == "FAILED" and failed_run.outputs.model_outputs
    assert set(registered_versions()) - set(earlier) == {registered.version}
    checkpoints = project / "data/02_intermediate/checkpoints"
    before = sorted(p.relative_to(checkpoints) for p in checkpoints.rglob("state.json"))
    assert before

    run_in(project, "evaluate")  # trains nothing, so deletes nothing
    assert sorted(p.relative_to(checkpoints) for p in checkpoints.rglob("state.json")) == before

    # Other data (the same images, other labels) does not reuse the finished training.
    caplog.clear()
    with caplog.at_level(logging.INFO, "resnet_finetune"):
        transfer(project, digit_folder(tmp_path / "B", ["x", "y", "z"]), seed=5)
    assert "already trained" not in caplog.text
    # The same run again finds its own finished phases and cleans them up once done.
    caplog.clear()
    with caplog.at_level(logging.INFO, "resnet_finetune"):
        transfer(project, folder, seed=5)
    assert caplog.text.count("already trained") == 2  # both phases
    assert not list(checkpoints.rglob("state.json"))


def test_a_killed_run_is_moved_aside_when_the_next_session_starts(project):
    version = "2026-01-01T00.00.00.000Z"
    output = project / "data/08_reporting/metrics.json" / version / "metrics.json"
    output.parent.mkdir(parents=True)
    output.write_text("{}")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (project / "data/runs").mkdir(parents=True)
    (project / "data/runs" / f"{version}.json").write_text(
        json.dumps({"status": "running", "pid": int(dead), "pipelines": ["finetune"]})
    )
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)
    with KedroSession.create(project_path=project) as session:
        assert session.load_context().catalog is not None  # creating it sweeps dead runs
    assert not output.exists()
    assert (
        project / "data/incomplete_runs" / version / "08_reporting/metrics.json" / version
    ).is_dir()
    record = json.loads((project / "data/runs" / f"{version}.json").read_text())
    assert record["status"] == "interrupted"


def test_declared_train_and_val_select_on_train_and_test_on_val(project, tmp_path):
    folder = digit_folder(
        tmp_path / "declared",
        ["a", "b"],
        per_class=40,
        layout=lambda i: "val" if i < 10 else "train",
    )
    transfer(project, folder, target={"split": {"train_per_class": None, "val_per_class": None}})
    manifest = pd.read_csv(latest(project, "data/03_primary/target_manifest.csv"))
    assert manifest.groupby("split").size().to_dict() == {"test": 20, "train": 51, "val": 9}
    assert manifest.loc[manifest["split"] == "test", "path"].str.contains("/val/").all()
    assert manifest.loc[manifest["split"] == "val", "path"].str.contains("/train/").all()
    metrics = json.loads(latest(project, "data/08_reporting/metrics.json").read_text())
    assert metrics["num_test_images"] == 20
    assert metrics["split_origin"] == {
        "test": "declared val, used as test",
        "train": "declared train",
        "val": "carved from declared train",
    }
    report = latest(project, "data/08_reporting/evaluation_report.html").read_text()
    assert "declared val, used as test" in report


ODD_NAMES = ["cat & dog", "sea lion (adult)", "o'brien, jr", "猫", "x" * 200]


def test_any_class_name_runs_through_every_pipeline(project, tmp_path):
    folder = digit_folder(tmp_path / "odd", ODD_NAMES, per_class=25)
    transfer(project, folder, target={"split": {"train_per_class": 8, "val_per_class": 4}})
    run_in(project, "predict", predict={"data_dir": str(folder / "猫"), "top_k": 2})
    run_in(project, "evaluate")
    run_in(project, "export", export={"formats": ["onnx"]})
    per_class = pd.read_csv(latest(project, "data/08_reporting/per_class_metrics.csv"), dtype=str)
    assert sorted(per_class["label"]) == sorted(ODD_NAMES)
    predictions = pd.read_csv(latest(project, "data/07_model_output/predictions.csv"), dtype=str)
    assert set(predictions["label_1"]) <= set(ODD_NAMES)
    report = latest(project, "data/08_reporting/evaluation_report.html").read_text()
    assert "o&#x27;brien, jr" in report or "o'brien, jr" in report
    export = pd.read_csv(latest(project, "data/08_reporting/export_report.csv"))
    assert export["format"].tolist() == ["keras", "onnx"]
    # The export says what its outputs mean, with these names in the model's output order.
    exports = latest(project, "data/06_models/exports")
    class_names = card_of(load_model(exports / "model.keras")).class_names
    assert sorted(class_names) == sorted(ODD_NAMES)
    assert (exports / "labels.txt").read_text(encoding="utf-8").splitlines() == class_names
    about = json.loads((exports / "model.json").read_text(encoding="utf-8"))
    assert about["class_names"] == class_names


def _tiny_local_parameters(project: Path, data: Path) -> None:
    """conf/local/parameters.yml with whole blocks: tiny settings on ``data``."""
    base = {}
    for path in sorted((project / "conf/base").glob("parameters*.yml")):
        base.update(yaml.safe_load(path.read_text()) or {})
    tiny = merge(TINY, merge(NO_PRETRAINING, {"target": {"data_dir": str(data)}}))
    blocks = {
        key: merge(base[key], value) if isinstance(value, dict) else value
        for key, value in tiny.items()
    }
    (project / "conf/local/parameters.yml").write_text(yaml.safe_dump(blocks))


def test_two_runs_at_once_both_finish_with_their_own_models(project, tmp_path):
    folder = digit_folder(tmp_path / "A", ["a", "b", "c"])
    _tiny_local_parameters(project, folder)
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "kedro", "run", "--pipeline", "transfer"]
    runs = [
        subprocess.Popen(
            command,
            cwd=project,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    models = versions(project, FINETUNED)
    assert len(models) == 2
    for version in models:
        card = card_of(load_model(project / FINETUNED / version / "finetuned_model.keras"))
        assert card.class_names == ["a", "b", "c"]
    assert not list((project / "data/02_intermediate/checkpoints").rglob("state.json"))
    statuses = [json.loads(p.read_text())["status"] for p in (project / "data/runs").glob("*")]
    assert statuses == ["complete", "complete"]
    assert np.isfinite(
        [
            json.loads(p.read_text())["accuracy"]
            for p in (project / "data/08_reporting/metrics.json").glob("*/*")
        ]
    ).all()
