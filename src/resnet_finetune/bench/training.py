"""Our training step against keras.applications + plain fit, side by side, on any backend.

Both cases train the same network on the same synthetic images and labels, under the
same dtype policy, each in its own process (JAX preallocates accelerator memory, and no
compiled state may carry over), repeated and interleaved; medians are reported:

- ``keras_fit``: ``keras.applications.<Net>(weights=None)``, ``compile`` with SGD, then
  ``fit`` on float32 arrays: the plain Keras path (as ``../shared/bench``'s keras-jax-fit);
- ``ours``: ``build_classifier(build_backbone(...))`` trained by ``training.train`` with
  a ``Compute``: uint8 images cross to the device and are normalised there.

The first epoch (compilation) is timed apart; the steady step time is the median over
the later epochs.
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import statistics
import time

from resnet_finetune.bench.common import cpu_seconds, interleaved_runs, machine

# Both cases: random labels on tiny batches (BatchNorm over two 1x1 maps) give huge
# gradients; clipped, the weights stay sane (the training guard stops a diverged
# training) and the time per step is what it is either way.
LEARNING_RATE = 0.01
CLIP_NORM = 1.0
CASES = {
    "keras_fit": "keras.applications + compile + fit on float32 arrays",
    "ours": "build_classifier + training.train, uint8 in, normalised on the device",
}


def _peer(network: str, variant: str) -> str:
    """The keras.applications model of the same network (v1.5 against v1: Keras has none)."""
    from resnet_finetune.models.resnet import IMAGENET_MODELS

    key = (network, "v1" if variant == "v1.5" else variant)
    if key not in IMAGENET_MODELS:
        raise ValueError(
            f"--network {network} --variant {variant} has no keras.applications peer; "
            f"choose one of {sorted(IMAGENET_MODELS)} (v1.5 is compared with v1)"
        )
    return IMAGENET_MODELS[key]


def _device() -> str:
    import keras

    from resnet_finetune.training.compute import accelerators

    kind, devices = accelerators()
    if kind == "cpu":
        return "CPU"
    if keras.backend.backend() == "jax":
        return f"{len(devices)}× {devices[0].device_kind}"
    return f"{len(devices)}× {kind.upper()}"


def _epoch_clock():
    """A callback noting wall-clock and process CPU time when training starts and each
    epoch ends."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = [(time.perf_counter(), cpu_seconds())]

        def on_epoch_end(self, epoch, logs=None):
            self.times.append((time.perf_counter(), cpu_seconds()))

    return EpochClock()


def _uint8_batches(images, labels, batch_size: int):
    """The project's way in: tf.data on TensorFlow, a PyDataset elsewhere (no TF there)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return len(images) // batch_size

        def __getitem__(self, index):
            window = slice(index * batch_size, (index + 1) * batch_size)
            return images[window], labels[window]

    return Batches()


def run_case(case: str, args: argparse.Namespace) -> dict:
    """Train ``case`` for the steps asked; its compile time and steady step time."""
    import keras
    import numpy as np

    from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier
    from resnet_finetune.training import Compute, TrainingOptions, train

    compute = Compute(
        precision=args.precision,
        distribution="none",
        jit_compile=args.jit_compile,
        steps_per_execution=args.steps_per_execution,
    )
    rng = np.random.default_rng(0)
    count = args.batches_per_epoch * args.batch_size
    size = (args.image_size, args.image_size)
    images = rng.integers(0, 256, (count, *size, 3), dtype=np.uint8)
    labels = rng.integers(0, args.classes, count).astype("int32")
    epochs = 1 + math.ceil(args.steps / args.batches_per_epoch)
    clock = _epoch_clock()
    keras.utils.set_random_seed(0)
    if case == "keras_fit":
        keras.config.set_dtype_policy(compute.policy)
        model = getattr(keras.applications, _peer(args.network, args.variant))(
            weights=None, classes=args.classes, input_shape=(*size, 3)
        )
        model.compile(
            optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9, global_clipnorm=CLIP_NORM),
            loss="sparse_categorical_crossentropy",
        )
        model.fit(
            images.astype("float32"),
            labels,
            batch_size=args.batch_size,
            epochs=epochs,
            callbacks=[clock],
            verbose=0,
        )
    else:
        backbone = build_backbone(BackboneSpec(architecture=args.network, variant=args.variant))
        model = build_classifier(backbone, args.classes, image_size=size)
        train(
            model,
            _uint8_batches(images, labels, args.batch_size),
            options=TrainingOptions(
                epochs=epochs,
                learning_rate=LEARNING_RATE,
                optimizer="sgd",
                gradient_clip_norm=CLIP_NORM,
            ),
            compute=compute,
            callbacks=[clock],
        )
    wall, cpu = np.diff(np.array(clock.times), axis=0).T
    step = float(np.median(wall[1:])) / args.batches_per_epoch
    images_after_first_epoch = (len(cpu) - 1) * args.batches_per_epoch * args.batch_size
    return {
        "images_per_second": args.batch_size / step,
        "cpu_ms_per_image": float(cpu[1:].sum()) * 1000 / images_after_first_epoch,
        "first_epoch_seconds": float(wall[0]),
        "policy": compute.policy,
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "device": _device(),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--network", default="resnet50", help="resnet50 | resnet101 | resnet152")
    parser.add_argument("--variant", default="v1", help="v1 | v1.5 | v2")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument(
        "--steps", type=int, default=32, help="timed training steps after the first epoch"
    )
    parser.add_argument(
        "--precision", default="auto", help="auto | float32 | bfloat16 | float16, both cases"
    )
    parser.add_argument(
        "--jit-compile", default="auto", type=_jit_compile, help="ours: auto | true | false"
    )
    parser.add_argument("--steps-per-execution", type=int, default=1, help="ours")
    parser.add_argument(
        "--batches-per-epoch",
        type=int,
        default=8,
        help="synthetic batches in one epoch (an epoch boundary costs both cases the same)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)


def _jit_compile(value: str) -> bool | str:
    choices = {"auto": "auto", "true": True, "false": False}
    if value.lower() not in choices:
        raise argparse.ArgumentTypeError(f"--jit-compile {value!r}: choose auto, true or false")
    return choices[value.lower()]


def markers(args: argparse.Namespace, backend: str) -> tuple[str, str]:
    """One section per network, size, batch, precision and backend."""
    name = (
        f"train-benchmark {args.network}-{args.variant} {args.image_size}px "
        f"batch{args.batch_size} {args.precision} {backend}"
    )
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _options(args: argparse.Namespace) -> dict:
    return {
        f"--{key.replace('_', '-')}": str(value).lower() if key == "jit_compile" else value
        for key, value in vars(args).items()
        if key
        in {
            "network",
            "variant",
            "image_size",
            "batch_size",
            "classes",
            "steps",
            "precision",
            "jit_compile",
            "steps_per_execution",
            "batches_per_epoch",
        }
    }


def section(args: argparse.Namespace, command: str) -> tuple[str, tuple[str, str]]:
    """Run both cases ``repeats`` times, interleaved; the Markdown section of the result."""
    _peer(args.network, args.variant)  # an unknown network stops before any process starts
    runs = interleaved_runs("train", CASES, _options(args), args.repeats)
    median = {
        case: statistics.median(run["images_per_second"] for run in results)
        for case, results in runs.items()
    }
    first = runs["ours"][0]
    start, end = markers(args, first["backend"])
    lines = [
        start,
        f"### {args.network} {args.variant}, {args.image_size}×{args.image_size}, batch "
        f"{args.batch_size}, {first['policy']}, Keras {first['keras']} on {first['backend']}",
        "",
        f"Measured {datetime.date.today().isoformat()} on {machine()} ({first['device']}), "
        f"Python {platform.python_version()}: {args.steps} timed steps after a first epoch "
        f"of {args.batches_per_epoch}, {args.classes} classes, synthetic images, median of "
        f"{args.repeats} interleaved repeats, each case in its own process. Ours: "
        f"jit_compile={args.jit_compile}, steps_per_execution={args.steps_per_execution}.",
        "",
        f"Reproduce: `{command}`",
        "",
        "| case | images/s | ratio | images/s, each repeat | CPU ms per image | first epoch (s) |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for case, description in CASES.items():
        each = ", ".join(f"{run['images_per_second']:,.1f}" for run in runs[case])
        first_epoch = statistics.median(run["first_epoch_seconds"] for run in runs[case])
        cpu = statistics.median(run["cpu_ms_per_image"] for run in runs[case])
        lines.append(
            f"| {case}: {description} | {median[case]:,.1f} | "
            f"{median[case] / median['keras_fit']:.2f}× | {each} | {cpu:,.1f} | "
            f"{first_epoch:.1f} |"
        )
    lines += [
        "",
        "CPU ms per image: process CPU time (all threads) over the timed epochs, per image; "
        "unlike images/s it does not depend on how many cores the run kept busy.",
        end,
    ]
    return "\n".join(lines), (start, end)
