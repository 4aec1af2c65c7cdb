"""The training bench runs where only keras, jax and numpy are installed.

A new virtual environment per test run would download jax and keras again; instead the
bench runs with ``minimal_install/sitecustomize.py`` first on PYTHONPATH, which makes
this interpreter (and the bench's child processes, which inherit PYTHONPATH) refuse to
import any installed distribution outside the dependency closure of keras, jax and numpy
— TensorFlow, pandas, tqdm, Kedro, MLflow, scikit-learn, Pillow — as such an environment
would (docs/PACKAGING.md)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMAND = (
    "-m resnet_finetune.bench train --network resnet50 --image-size 32 --batch-size 8 "
    "--steps 4 --batches-per-epoch 2 --repeats 1"
)


def minimal(args: list[str], log: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "BLOCKED_IMPORTS_LOG": str(log),
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent / "minimal_install"), str(ROOT / "src")]
        ),
    }
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )


@pytest.mark.parametrize("module", ["tensorflow", "pandas", "tqdm", "kedro", "mlflow"])
def test_the_stand_in_environment_lacks_the_stack(tmp_path, module):
    done = minimal(["-c", f"import {module}"], tmp_path / "blocked.log")
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr


def test_the_training_bench_runs_with_keras_jax_and_numpy_only(tmp_path):
    done = minimal(COMMAND.split(), tmp_path / "blocked.log")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| keras_fit", "| ours"))]
    assert len(rows) == 2, done.stdout
    assert "jax" in done.stdout  # the section is the JAX backend's
