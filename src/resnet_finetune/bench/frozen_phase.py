"""A frozen-backbone phase on cached features against the same phase through the model.

Both cases run ``training.finetune`` with one frozen phase on the same synthetic images,
each in its own process, repeated and interleaved; medians are reported:

- ``through_model``: every image through the whole frozen backbone on every epoch (the
  route ``finetune`` takes when features would not fit ``FEATURE_BUDGET_BYTES``);
- ``cached_features``: each image through the backbone once, the head trained on those
  features.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

from resnet_finetune.bench.common import interleaved_runs, machine

CASES = {
    "through_model": "every epoch through the frozen backbone",
    "cached_features": "backbone once per image, head on cached features",
}


def run_case(case: str, args: argparse.Namespace) -> dict:
    """Seconds of one ``finetune`` call with a frozen phase of ``args.epochs`` epochs."""
    import importlib

    import keras
    import numpy as np
    import tensorflow as tf

    from resnet_finetune.models import BackboneSpec, build_backbone
    from resnet_finetune.training import finetune
    from resnet_finetune.training.engine import TrainingOptions
    from resnet_finetune.training.finetune import make_phases

    if case == "through_model":  # the route taken when the features would not fit
        importlib.import_module("resnet_finetune.training.finetune").FEATURE_BUDGET_BYTES = 0
    rng = np.random.default_rng(0)
    size = (args.image_size, args.image_size)

    def batches(count: int):
        labels = rng.integers(0, args.classes, count).astype("int32")
        images = rng.integers(0, 256, (count, *size, 3), dtype=np.uint8)
        return tf.data.Dataset.from_tensor_slices((images, labels)).batch(args.batch_size).cache()

    train, val = batches(args.images), batches(max(args.batch_size, args.images // 4))
    phases = make_phases(
        TrainingOptions(), [{"unfreeze_stages": 0, "epochs": args.epochs, "learning_rate": 0.01}]
    )
    keras.utils.set_random_seed(0)
    backbone = build_backbone(BackboneSpec(architecture=args.network))
    start = time.perf_counter()
    finetune(backbone, train, val, num_classes=args.classes, image_size=size, phases=phases)
    return {"seconds": time.perf_counter() - start, "keras": keras.__version__}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--network", default="resnet18", help="resnet18 | resnet50 | ...")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=200, help="training images")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the frozen phase")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)


def _options(args: argparse.Namespace) -> dict:
    keys = ("network", "image_size", "images", "batch_size", "classes", "epochs")
    return {f"--{key.replace('_', '-')}": getattr(args, key) for key in keys}


def section(args: argparse.Namespace, command: str) -> tuple[str, tuple[str, str]]:
    """Run both cases ``repeats`` times, interleaved; the Markdown section of the result."""
    runs = interleaved_runs("frozen", CASES, _options(args), args.repeats)
    median = {
        case: statistics.median(r["seconds"] for r in results) for case, results in runs.items()
    }
    name = f"frozen-phase-benchmark {args.network} {args.image_size}px {args.images}images"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    lines = [
        start,
        f"### Frozen phase: {args.network} at {args.image_size}×{args.image_size}, "
        f"{args.images} images, {args.epochs} epochs",
        "",
        f"Measured {datetime.date.today().isoformat()} on {machine()}, Python "
        f"{platform.python_version()}, Keras {runs['cached_features'][0]['keras']}: "
        f"`training.finetune` with one frozen phase, batch {args.batch_size}, synthetic "
        f"images, median of {args.repeats} interleaved repeats, each in its own process.",
        "",
        f"Reproduce: `{command}`",
        "",
        "| case | seconds | speed-up | seconds, each repeat |",
        "| --- | ---: | ---: | --- |",
    ]
    for case, description in CASES.items():
        each = ", ".join(f"{run['seconds']:.1f}" for run in runs[case])
        lines.append(
            f"| {case}: {description} | {median[case]:.1f} | "
            f"{median['through_model'] / median[case]:.2f}× | {each} |"
        )
    lines.append(end)
    return "\n".join(lines), (start, end)
