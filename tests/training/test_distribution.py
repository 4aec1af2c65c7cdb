"""Several replicas on CPU train to the weights one device reaches with the global batch.

Every set-up runs ``train_worker.py`` in its own process (devices are fixed when a
backend starts); all run side by side. Distributed runs get
half the reference learning rate: the engine scales it by the replica count.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("train_worker.py")
LEARNING_RATE = 0.01
TIMEOUT_S = 900


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_side_by_side(folder: Path, runs: dict[str, tuple]) -> dict[str, dict]:
    """``runs``: name -> (distribution, logical devices, replicas, sync BN, extra env)."""
    processes = {}
    for name, (distribution, devices, replicas, sync, env) in runs.items():
        command = [
            sys.executable,
            str(WORKER),
            str(folder / f"{name}.npz"),
            distribution,
            str(devices),
            str(LEARNING_RATE / replicas),
            "1" if sync else "0",
        ]
        processes[name] = subprocess.Popen(
            command,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    results = {}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=TIMEOUT_S)
        assert process.returncode == 0, f"{name} failed:\n{output[-4000:]}"
        with np.load(folder / f"{name}.npz") as saved:
            results[name] = dict(saved)
    return results


def _weights(run: dict, prefix: str = "w") -> list[np.ndarray]:
    count = sum(1 for key in run if key.startswith("w"))
    return [run[f"{prefix}{i}"] for i in range(count)]


def _distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(((x - y) ** 2).sum() for x, y in zip(a, b, strict=True))))


def _assert_same_training(run: dict, reference: dict) -> None:
    """Same start, same losses, and end weights far closer to the reference's than the
    distance training moved them (a wrong gradient average or learning rate moves them
    by a sizeable fraction of it)."""
    assert _distance(_weights(run, "init"), _weights(reference, "init")) == 0
    np.testing.assert_allclose(run["loss"], reference["loss"], rtol=1e-4)
    moved = _distance(_weights(reference), _weights(reference, "init"))
    assert moved > 1.0
    assert _distance(_weights(run), _weights(reference)) < 1e-4 * moved


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every set-up at once: TensorFlow on one device, MirroredStrategy, two
    MultiWorkerMirroredStrategy workers, JAX on one device and JAX DataParallel."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    jax = {"KERAS_BACKEND": "jax"}

    def worker(index):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        return ("multi_worker", 1, 2, True, {"TF_CONFIG": json.dumps(task)})

    return _run_side_by_side(
        tmp_path_factory.mktemp("distribution"),
        {
            "one_device": ("none", 1, 1, False, {}),
            "mirrored": ("mirrored", 2, 2, True, {}),
            "worker0": worker(0),
            "worker1": worker(1),
            "jax_one_device": ("none", 1, 1, False, jax),
            "jax_data_parallel": ("data_parallel", 2, 2, False, jax),
        },
    )


def test_mirrored_strategy_over_two_cpus_trains_like_one_device(runs):
    assert runs["mirrored"]["replicas"] == 2
    _assert_same_training(runs["mirrored"], runs["one_device"])


def test_two_multi_worker_processes_train_to_the_same_weights(runs):
    worker0, worker1 = runs["worker0"], runs["worker1"]
    assert worker0["replicas"] == worker1["replicas"] == 2
    assert _distance(_weights(worker0), _weights(worker1)) == 0
    _assert_same_training(worker0, runs["one_device"])


def test_jax_data_parallel_over_two_cpus_trains_like_one_device(runs):
    assert runs["jax_data_parallel"]["replicas"] == 2
    _assert_same_training(runs["jax_data_parallel"], runs["jax_one_device"])
