"""The compute block's view of the machine: a GPU that TensorFlow cannot use is said."""

import logging

import pytest

from resnet_finetune.hooks import ComputeHook
from resnet_finetune.training import compute


@pytest.fixture
def nvidia_driver(tmp_path, monkeypatch):
    """A machine that shows an NVIDIA driver (this one has none, and TensorFlow lists no
    GPU here: exactly the machine whose TensorFlow lacks the CUDA libraries)."""
    marker = tmp_path / "nvidia" / "version"
    marker.parent.mkdir()
    marker.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.00\n")
    monkeypatch.setattr(compute, "_NVIDIA_MARKERS", (str(marker),))


def test_a_gpu_tensorflow_cannot_see_is_said_with_the_fix(nvidia_driver):
    assert compute.accelerators()[0] == "cpu"
    notice = compute.unused_gpu_notice()
    assert notice is not None
    assert "NVIDIA GPU is present but TensorFlow sees none" in notice
    assert 'pip install -e ".[cuda]"' in notice


def test_no_notice_without_an_nvidia_device(tmp_path, monkeypatch):
    monkeypatch.setattr(compute, "_NVIDIA_MARKERS", (str(tmp_path / "absent"),))
    assert compute.unused_gpu_notice() is None


def test_no_notice_when_tensorflow_uses_the_gpu(nvidia_driver, monkeypatch):
    monkeypatch.setattr(compute, "accelerators", lambda: ("gpu", ["/physical_device:GPU:0"]))
    assert compute.unused_gpu_notice() is None


def test_the_run_prints_the_notice_before_any_node(nvidia_driver, caplog):
    class Catalog:
        def load(self, name):
            assert name == "params:compute"
            return compute.Compute(precision="float32", distribution="none")

    with caplog.at_level(logging.WARNING, logger="resnet_finetune.hooks"):
        ComputeHook().before_pipeline_run(Catalog())
    assert any('pip install -e ".[cuda]"' in r.getMessage() for r in caplog.records)
