"""Run the project's pipelines for real, on a copy of its configuration, tiny sizes."""

import contextlib
import shutil
from functools import partial
from pathlib import Path

import mlflow
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.runner import SequentialRunner

ROOT = Path(__file__).resolve().parents[2]

# Small enough for seconds per pipeline on two CPU cores; same code paths as a real run.
TINY = {
    "source": {"input": {"image_size": [8, 8], "batch_size": 128}},
    "target": {
        "input": {"image_size": [8, 8]},
        "split": {"train_per_class": 6, "val_per_class": 4},
    },
    "backbone": {"width": 0.25, "architecture": "resnet20"},  # tiny, whatever the recipe
    "pretrain": {"epochs": 1},
    "finetune": {
        "phases": [
            {"name": "frozen backbone", "unfreeze_stages": 0, "epochs": 1, "learning_rate": 0.01},
            {
                "name": "backbone unfrozen",
                "unfreeze_stages": 1,
                "epochs": 1,
                "learning_rate": 0.001,
            },
        ]
    },
}


def merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def make_project(path: Path) -> Path:
    """A copy of the project's conf/ in ``path``, with its own data/ and mlflow.db.

    src/ is copied too: Kedro's CLI (``kedro viz``) refuses a source folder outside the
    project, a link included."""
    shutil.copytree(ROOT / "conf" / "base", path / "conf" / "base")
    shutil.copytree(ROOT / "src", path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (path / "conf" / "local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", path / "pyproject.toml")
    return path


def run_in(project: Path, name: str, tiny: bool = True, load_versions=None, **params):
    """Run a registered pipeline in ``project`` with SequentialRunner; tiny by default."""
    bootstrap_project(ROOT)
    runtime_params = merge(TINY, params) if tiny else params
    with (
        contextlib.chdir(project),
        KedroSession.create(project_path=project, runtime_params=runtime_params) as session,
    ):
        try:
            return session.run(
                pipeline_names=[name], runner=SequentialRunner(), load_versions=load_versions
            )
        finally:
            # A run left active in this process would swallow the next session's run.
            while mlflow.active_run():
                mlflow.end_run()


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="session")
def run_pipeline(project):
    """``run_in`` the project shared by this test session."""
    return partial(run_in, project)


@pytest.fixture(scope="session")
def finetune_run(project, run_pipeline) -> Path:
    """One full ``finetune`` run in the shared project, for every test that reads its outputs."""
    run_pipeline("finetune")
    return project


def versions(project: Path, relative: str) -> list[str]:
    """The saved versions of a versioned catalog entry, oldest first."""
    return sorted(p.name for p in (project / relative).iterdir())


def latest(project: Path, relative: str) -> Path:
    folder = project / relative
    return folder / versions(project, relative)[-1] / folder.name
