"""A copy of the project, as a fresh clone has it, run through the real ``kedro`` command."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_image
from tests.pipelines.conftest import TINY

ROOT = Path(__file__).resolve().parents[2]
KEDRO = str(Path(sys.executable).with_name("kedro"))


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(project), *args], capture_output=True, text=True, check=True
    ).stdout


def clone_project(path: Path) -> Path:
    """The project's tracked files that a run reads, committed in a git repository of
    their own (so that ``git status`` tells what a run changed)."""
    for name in ("conf/base", "src"):
        shutil.copytree(ROOT / name, path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", ".gitignore", ".telemetry", "conf/logging.yml", "README.md"):
        shutil.copy(ROOT / name, path / name)
    (path / "conf/local").mkdir()
    (path / "conf/local/.gitkeep").touch()
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone")
    return path


def kedro(project: Path, command: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``command`` (a shell command line starting with ``kedro``) in ``project``, as a
    user runs it: its sources first, no telemetry opt-out in the environment (the
    project's ``.telemetry`` must be enough), output as a person sees it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "TF_CPP_MIN_LOG_LEVEL")
    }
    env["PATH"] = f"{Path(KEDRO).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(project / "src")
    env["CI"] = "true"  # no progress bars: the log is what a CI console shows
    return subprocess.run(
        command,
        shell=True,
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def image_folder(root: Path, per_class: int = 14) -> Path:
    """Three classes of small distinct PNGs: enough for 6 training, 4 validation and 4
    test images per class."""
    for c, label in enumerate(("cat", "dog", "owl")):
        for i in range(per_class):
            write_image(root / label / f"{i}.png", seed=100 * c + i)
    return root


@pytest.fixture(scope="module")
def tiny_clone(tmp_path_factory) -> Path:
    """A clone whose conf/local/parameters.yml holds the tiny sizes of the pipeline tests,
    nested keys only: the rest comes from conf/base (soft merge)."""
    project = clone_project(tmp_path_factory.mktemp("clone"))
    (project / "conf/local/parameters.yml").write_text(yaml.safe_dump(TINY))
    return project
