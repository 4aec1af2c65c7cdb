"""Run records: whether a run is alive is told by the lock its process holds, never by
its pid; an unreadable record is skipped with a warning; a killed run's MLflow run is
ended as KILLED when the next session starts. No pipeline runs here: creating a
session's catalog is what sweeps the records."""

import json
import logging
import os
import subprocess
import sys

import mlflow
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.pipelines.conftest import ROOT, make_project
from tests.test_locks import hold_in_another_process

VERSION = "2026-01-01T00.00.00.000Z"


@pytest.fixture
def project(tmp_path):
    project = make_project(tmp_path / "project")
    (project / "data/runs").mkdir(parents=True)
    return project


def a_running_run(project, pid: int, **fields):
    """Outputs of run ``VERSION`` and its record saying running with ``pid``."""
    output = project / "data/08_reporting/metrics.json" / VERSION / "metrics.json"
    output.parent.mkdir(parents=True)
    output.write_text("{}")
    record = {"status": "running", "pid": pid, "pipelines": ["finetune"], **fields}
    (project / "data/runs" / f"{VERSION}.json").write_text(json.dumps(record))
    return output


def start_session(project) -> None:
    bootstrap_project(ROOT)
    with KedroSession.create(project_path=project) as session:
        assert session.load_context().catalog is not None  # creating it sweeps the records


def status(project) -> str:
    return json.loads((project / "data/runs" / f"{VERSION}.json").read_text())["status"]


def a_dead_pid() -> int:
    return int(subprocess.check_output([sys.executable, "-c", "import os; print(os.getpid())"]))


def test_a_run_whose_lock_is_held_is_alive_whatever_its_pid(project):
    # As a run in another container: its pid means nothing here, its lock is held.
    output = a_running_run(project, a_dead_pid())
    holder = hold_in_another_process(project / "data/runs" / f"{VERSION}.lock")
    try:
        start_session(project)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert output.exists()
    assert status(project) == "running"


def test_a_run_whose_lock_is_free_was_killed_even_if_its_pid_is_alive(project):
    # A reused pid: some live process (this one) has the dead run's pid.
    output = a_running_run(project, os.getpid())
    start_session(project)
    assert not output.exists()
    assert status(project) == "interrupted"
    assert sorted(p.name for p in (project / "data/runs").iterdir()) == [f"{VERSION}.json"]


def test_an_unreadable_run_record_is_named_and_skipped(project, caplog):
    truncated = project / "data/runs" / "2025-12-31T00.00.00.000Z.json"
    truncated.write_text('{"status": "runn')
    output = a_running_run(project, a_dead_pid())
    with caplog.at_level(logging.WARNING, "resnet_finetune.hooks"):
        start_session(project)
    assert f"run record {truncated} cannot be read" in caplog.text
    assert not output.exists() and status(project) == "interrupted"  # the others still swept


def test_the_mlflow_run_of_a_killed_run_is_ended_as_killed(project):
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("killed"))
    a_running_run(project, a_dead_pid(), mlflow_run_id=run.info.run_id, mlflow_tracking_uri=uri)
    start_session(project)
    assert status(project) == "interrupted"
    assert client.get_run(run.info.run_id).info.status == "KILLED"
