"""A real interruption: `kedro run` killed with SIGKILL mid-training, then run again."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from resnet_finetune.models.resnet import load_model
from tests.pipelines.conftest import TINY, make_project, merge, versions

EPOCHS = 8
CHECKPOINT = Path("data/02_intermediate/checkpoints/pretrain")


def kedro_run(project: Path) -> subprocess.Popen:
    """``kedro run --pipeline pretrain`` in its own process group, output to a file."""
    log = (project / "run.log").open("a")
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("kedro")), "run", "--pipeline", "pretrain"],
        cwd=project,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "CI": "true"},
        start_new_session=True,
    )


def epochs_saved(project: Path) -> int:
    """Epochs in the newest snapshot of the (one) pretraining checkpoint folder."""
    try:
        [folder] = [p.parent for p in (project / CHECKPOINT).glob("*/latest")]
        snapshot = (folder / "latest").read_text()
        return json.loads((folder / snapshot / "state.json").read_text())["epoch"]
    except (FileNotFoundError, ValueError, json.JSONDecodeError):
        return 0


def test_a_run_killed_after_the_second_epoch_resumes_and_trains_the_epochs_left(tmp_path):
    project = make_project(tmp_path)
    base = {}
    for name in ("parameters.yml", "parameters_ingestion.yml", "parameters_pretrain.yml"):
        base.update(yaml.safe_load((project / "conf/base" / name).read_text()))
    # Small batches: enough steps per epoch for the kill to land between two epochs.
    tiny = merge(TINY, {"source": {"input": {"batch_size": 16}}, "pretrain": {"epochs": EPOCHS}})
    local = {key: merge(base[key], tiny[key]) for key in ("source", "backbone", "pretrain")}
    (project / "conf/local/parameters.yml").write_text(yaml.safe_dump(local))

    first = kedro_run(project)
    try:
        while epochs_saved(project) < 2:
            assert first.poll() is None, (project / "run.log").read_text()
            time.sleep(0.02)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    done = epochs_saved(project)
    assert 2 <= done < EPOCHS
    assert not (project / "data/06_models/pretrained_model.keras").exists()
    start = len((project / "run.log").read_text())

    second = kedro_run(project)
    assert second.wait(timeout=600) == 0, (project / "run.log").read_text()[start:]
    log = (project / "run.log").read_text()[start:]
    assert f"resuming from epoch {done} (step 0) of {EPOCHS}" in log
    trained = [int(epoch) for epoch in re.findall(rf"epoch (\d+)/{EPOCHS}:", log)]
    assert trained == list(range(done + 1, EPOCHS + 1))
    [version] = versions(project, "data/08_reporting/pretrain_history.csv")
    history = pd.read_csv(
        project / "data/08_reporting/pretrain_history.csv" / version / "pretrain_history.csv"
    )
    assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert len(versions(project, "data/06_models/pretrained_model.keras")) == 1
    assert not list((project / CHECKPOINT).glob("*/latest"))  # a finished run clears its own

    # Run again, uninterrupted (no checkpoint left to resume): shuffling and augmentation
    # follow (seed, epoch), so it ends with exactly the resumed run's weights.
    uninterrupted = kedro_run(project)
    assert uninterrupted.wait(timeout=600) == 0, (project / "run.log").read_text()[start:]
    histories, models = (
        [project / folder / version / folder.name for version in versions(project, folder)]
        for folder in (
            Path("data/08_reporting/pretrain_history.csv"),
            Path("data/06_models/pretrained_model.keras"),
        )
    )
    resumed, whole = (pd.read_csv(path) for path in histories)
    assert resumed["loss"].tolist() == whole["loss"].tolist()
    resumed, whole = (load_model(path) for path in models)
    for got, want in zip(resumed.weights, whole.weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
