"""Where and in what precision training runs: precision policy, XLA, distribution.

One ``Compute`` per run, from the ``compute`` parameter block. Distribution uses the
engines that exist (``tf.distribute`` on TensorFlow, ``keras.distribution`` on JAX);
nothing here splits batches or averages gradients itself.
"""

from __future__ import annotations

import functools
import json
import os
from contextlib import nullcontext
from dataclasses import dataclass

import keras

from resnet_finetune.errors import ParameterError

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
DISTRIBUTIONS = ("auto", "none", "mirrored", "multi_worker", "data_parallel")
# Compute capability from which NVIDIA GPUs have bfloat16 matrix units (Ampere).
_BF16_COMPUTE_CAPABILITY = 8.0


def accelerators() -> tuple[str, list]:
    """The kind of accelerator the backend sees ("gpu", "tpu" or "cpu") and its devices."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        for kind in ("TPU", "GPU"):
            if devices := tf.config.list_physical_devices(kind):
                return kind.lower(), devices
        # Physical, not logical devices: listing logical ones starts TensorFlow's runtime,
        # after which no MultiWorkerMirroredStrategy can be made.
        return "cpu", tf.config.list_physical_devices("CPU")
    if backend == "jax":
        import jax

        devices = jax.devices()
        return devices[0].platform, devices
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return "gpu", list(range(torch.cuda.device_count()))
    return "cpu", ["cpu"]


# Where a Linux machine shows an NVIDIA driver, whatever the Python packages can use.
_NVIDIA_MARKERS = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0")
CUDA_INSTALL = 'pip install -e ".[cuda]"'


def nvidia_device_present() -> bool:
    """True when the machine has an NVIDIA driver or device node (``/dev/nvidia*``)."""
    return any(os.path.exists(marker) for marker in _NVIDIA_MARKERS)


def unused_gpu_notice() -> str | None:
    """One line when the machine has an NVIDIA GPU that the TensorFlow backend cannot
    use (TensorFlow without its CUDA libraries trains on the CPU, and with
    ``TF_CPP_MIN_LOG_LEVEL=3`` its own lines about it are hidden); ``None`` otherwise."""
    if keras.backend.backend() != "tensorflow" or not nvidia_device_present():
        return None
    if accelerators()[0] != "cpu":
        return None
    return (
        "an NVIDIA GPU is present but TensorFlow sees none (its CUDA libraries are not "
        f"installed): training runs on the CPU. To use the GPU: {CUDA_INSTALL}"
    )


def _compute_capability(device) -> float | None:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        capability = tf.config.experimental.get_device_details(device).get("compute_capability")
        return float(".".join(map(str, capability))) if capability else None
    if backend == "jax":
        return float(getattr(device, "compute_capability", 0) or 0) or None
    if backend == "torch":
        import torch

        return float(".".join(map(str, torch.cuda.get_device_capability(device))))
    return None


def auto_precision() -> str:
    """bfloat16 where the accelerator has bfloat16 units, float16 (with loss scaling) on
    older GPUs, float32 on CPU, where reduced precision only slows training down."""
    kind, devices = accelerators()
    if kind == "tpu":
        return "bfloat16"
    if kind == "gpu":
        capability = _compute_capability(devices[0])
        if capability is not None and capability < _BF16_COMPUTE_CAPABILITY:
            return "float16"
        return "bfloat16"
    return "float32"


@functools.cache
def _strategy(name: str):
    """One strategy object per process: TensorFlow allows a single MultiWorkerMirrored
    strategy, created before any other TensorFlow operation runs."""
    backend = keras.backend.backend()
    if name == "data_parallel":
        if backend != "jax":
            raise ParameterError(
                f"compute.distribution='data_parallel' needs the JAX backend (KERAS_BACKEND=jax); "
                f"this run uses {backend!r}: use 'mirrored' or 'multi_worker'"
            )
        return keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    if backend != "tensorflow":
        raise ParameterError(
            f"compute.distribution={name!r} needs the TensorFlow backend; this run uses "
            f"{backend!r}: use 'data_parallel'"
        )
    import tensorflow as tf

    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ParameterError(
                "compute.distribution='multi_worker' needs the TF_CONFIG environment variable "
                "(cluster addresses and this worker's index): see README, 'Several machines'"
            )
        json.loads(os.environ["TF_CONFIG"])  # a malformed TF_CONFIG fails here, by name
        return tf.distribute.MultiWorkerMirroredStrategy()
    # Without GPUs, the logical CPU devices are the replicas (how the tests run it).
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


def make_deterministic() -> None:
    """Kernels that give the same result for the same inputs, every run: TensorFlow's
    op determinism (it also makes tf.data's parallel maps keep their random draws in
    order), XLA's deterministic GPU reductions for JAX. Costs some GPU speed."""
    os.environ["XLA_FLAGS"] = " ".join(
        filter(None, [os.environ.get("XLA_FLAGS"), "--xla_gpu_deterministic_ops=true"])
    )
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@dataclass(frozen=True)
class Compute:
    """How training runs; the ``compute`` parameter block.

    precision: ``auto`` | ``float32`` | ``bfloat16`` | ``float16``; the last two are mixed
        precision (float32 weights, float32 softmax), float16 with dynamic loss scaling.
    distribution: ``auto`` (several GPUs: ``mirrored`` on TensorFlow, ``data_parallel`` on
        JAX; otherwise ``none``) | ``none`` | ``mirrored`` | ``multi_worker`` (TF_CONFIG) |
        ``data_parallel``. ``input.batch_size`` and learning rates are per replica: the
        global batch and the learning rate grow with the replica count.
    jit_compile: ``auto`` (Keras decides: XLA on accelerators) | true | false.
    steps_per_execution: training steps run per call into the compiled function.
    sync_batchnorm: with ``mirrored``/``multi_worker``, BatchNorm statistics over the
        global batch rather than each replica's share (worth it for small per-replica
        batches; costs one all-reduce per BatchNorm layer). ``data_parallel`` on JAX
        always computes them over the global batch.
    deterministic: the same seed gives the same weights and metrics, run after run
        (``make_deterministic``); off, some kernels are faster but sum in varying order.
    """

    precision: str = "auto"
    distribution: str = "auto"
    jit_compile: bool | str = "auto"
    steps_per_execution: int = 1
    sync_batchnorm: bool = False
    deterministic: bool = True

    # Unknown keys are typos (pydantic reads this when the schema validates the block).
    __pydantic_config__ = {"extra": "forbid"}

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ParameterError(
                f"compute.precision={self.precision!r} is not allowed; allowed: {list(PRECISIONS)}"
            )
        if self.distribution not in DISTRIBUTIONS:
            raise ParameterError(
                f"compute.distribution={self.distribution!r} is not allowed; "
                f"allowed: {list(DISTRIBUTIONS)}"
            )
        if self.jit_compile not in ("auto", True, False):
            raise ParameterError(
                f"compute.jit_compile={self.jit_compile!r} is not allowed; "
                "allowed: 'auto', true, false"
            )
        spe = self.steps_per_execution
        if not isinstance(spe, int) or isinstance(spe, bool) or spe < 1:
            raise ParameterError(f"compute.steps_per_execution={spe!r} must be a positive integer")
        for flag in ("sync_batchnorm", "deterministic"):
            if not isinstance(getattr(self, flag), bool):
                raise ParameterError(
                    f"compute.{flag}={getattr(self, flag)!r} must be true or false"
                )

    @functools.cached_property
    def policy(self) -> str:
        """The Keras dtype policy training runs under."""
        precision = auto_precision() if self.precision == "auto" else self.precision
        return {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[
            precision
        ]

    @functools.cached_property
    def strategy(self):
        """The tf.distribute strategy or keras.distribution, or ``None`` on one device."""
        name = self.distribution
        if name == "auto":
            kind, devices = accelerators()
            if kind == "cpu" or len(devices) < 2 or keras.backend.backend() == "torch":
                return None
            name = "data_parallel" if keras.backend.backend() == "jax" else "mirrored"
        return None if name == "none" else _strategy(name)

    @property
    def replicas(self) -> int:
        strategy = self.strategy
        if strategy is None:
            return 1
        if hasattr(strategy, "num_replicas_in_sync"):
            return strategy.num_replicas_in_sync
        return len(strategy.device_mesh.devices.flatten())

    def scope(self):
        """Variables created inside live on every replica."""
        return self.strategy.scope() if self.strategy is not None else nullcontext()
