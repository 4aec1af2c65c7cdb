"""Shared fixtures: quiet, telemetry-free, and small images made on the fly."""

import os

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


def write_image(path: Path, size=(12, 12), mode="RGB", seed=0, fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode=mode).save(path, fmt)
    return path


@pytest.fixture
def class_folder(tmp_path) -> Path:
    """Three classes of 10 distinct PNGs each."""
    root = tmp_path / "images"
    for c, label in enumerate(("cat", "dog", "owl")):
        for i in range(10):
            write_image(root / label / f"{i}.png", seed=100 * c + i)
    return root


# Fixtures of one shared Kedro project (tests/pipelines/conftest.py): the tests that use
# them run in one pytest-xdist worker, in order, so that the project is built once. Other
# tests go by module, so that a module's fixtures (six training processes for the
# distribution tests) run once, not once per worker.
_SHARED_PROJECT = {"project", "run_pipeline", "finetune_run"}


def pytest_collection_modifyitems(items):
    for item in items:
        shared = _SHARED_PROJECT & set(getattr(item, "fixturenames", ()))
        item.add_marker(
            pytest.mark.xdist_group("shared_project" if shared else item.module.__name__)
        )
