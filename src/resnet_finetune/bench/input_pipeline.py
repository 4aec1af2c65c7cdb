"""The input pipeline against ``keras.utils.image_dataset_from_directory``, side by side.

Same folder, image size and batch size. Every case runs in its own process, so that its
peak memory is its own and no TensorFlow state carries over; cases are interleaved and
repeated, and medians are reported. The files are read once beforehand, so every case
finds them in the operating system's page cache (none pays for the disk alone).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from resnet_finetune.bench.common import cpu_seconds, machine, run_child

# case -> what it measures
CASES = {
    "keras": "image_dataset_from_directory: two epochs",
    "memory": "ours, cache: memory: first epoch decodes, second reads RAM",
    "disk_first_run": "ours, cache: disk, empty cache: first epoch decodes and writes",
    "disk_second_run": "ours, cache: disk, a new process finding the cache of the last run",
}


def markers(image_size: int) -> tuple[str, str]:
    """Each image size has its own section, so that runs at several sizes coexist."""
    return (
        f"<!-- input-pipeline-benchmark {image_size}px:start -->",
        f"<!-- input-pipeline-benchmark {image_size}px:end -->",
    )


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _epoch(dataset) -> tuple[float, float]:
    """Images per second, and CPU milliseconds per image (all threads): the second
    does not depend on how many cores the pipeline kept busy."""
    start, cpu, count = time.perf_counter(), cpu_seconds(), 0
    for images, _ in dataset:
        count += int(images.shape[0])
    return count / (time.perf_counter() - start), (cpu_seconds() - cpu) * 1000 / count


def run_case(case: str, args: argparse.Namespace) -> dict:
    """One case in this process: images/s of two epochs and the peak resident memory."""
    import keras
    import pandas as pd
    import tensorflow as tf

    from resnet_finetune.data.input_pipeline import image_dataset

    size = (args.image_size, args.image_size)
    rss_after_import = _peak_rss_mib()
    if case == "keras":
        dataset = keras.utils.image_dataset_from_directory(
            args.data_dir,
            image_size=size,
            batch_size=args.batch_size,
            shuffle=True,
            seed=0,
            verbose=False,
        )
    else:
        manifest = pd.read_csv(args.manifest, keep_default_na=False)
        cache = "memory" if case == "memory" else "disk"
        dataset = image_dataset(
            manifest,
            "train",
            image_size=size,
            batch_size=args.batch_size,
            shuffle=True,
            seed=0,
            cache=cache,
            cache_dir=args.cache_dir,
        )
    (first, first_cpu), (second, second_cpu) = _epoch(dataset), _epoch(dataset)
    return {
        "first_epoch": first,
        "second_epoch": second,
        "first_epoch_cpu_ms": first_cpu,
        "second_epoch_cpu_ms": second_cpu,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_after_import_mib": rss_after_import,
        "tensorflow": tf.__version__,
    }


def _child(case: str, args: argparse.Namespace, manifest: Path, cache_dir: Path) -> dict:
    return run_child(
        "input",
        case,
        {
            "--data-dir": args.data_dir,
            "--image-size": args.image_size,
            "--batch-size": args.batch_size,
            "--manifest": manifest,
            "--cache-dir": cache_dir,
        },
    )


def compare(args: argparse.Namespace) -> dict:
    """Ingest the folder, warm the page cache, run every case ``repeats`` times."""
    from resnet_finetune.data.images import ImageChecks
    from resnet_finetune.data.manifest import build_manifest
    from resnet_finetune.data.split import SplitSpec

    work = Path(tempfile.mkdtemp(prefix="input-bench-"))
    start = time.perf_counter()
    manifest, report, _ = build_manifest(
        args.data_dir, SplitSpec(val_fraction=0, test_fraction=0), ImageChecks(), work / "rgb"
    )
    ingestion_seconds = time.perf_counter() - start
    manifest_path = work / "manifest.csv"
    manifest.to_csv(manifest_path, index=False)
    for path in Path(args.data_dir).rglob("*"):
        if path.is_file():
            path.read_bytes()
    runs = {case: [] for case in CASES}
    for repeat in range(args.repeats):
        cache_dir = work / f"cache{repeat}"
        for case in CASES:  # disk_second_run follows disk_first_run: it finds its cache
            runs[case].append(_child(case, args, manifest_path, cache_dir))
            print(f"repeat {repeat + 1} {case}: {runs[case][-1]}", file=sys.stderr)
    median = {
        case: {
            key: statistics.median(run[key] for run in results)
            for key in results[0]
            if key != "tensorflow"
        }
        for case, results in runs.items()
    }
    return {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "python": platform.python_version(),
        "tensorflow": runs["keras"][0]["tensorflow"],
        "images": len(manifest),
        "left_out": len(report),
        "ingestion_seconds": ingestion_seconds,
        "median": median,
        "runs": runs,
    }


# (row label, case, epoch, epoch of image_dataset_from_directory it is compared with)
_ROWS = [
    ("`image_dataset_from_directory`, first epoch", "keras", "first", "first"),
    ("`image_dataset_from_directory`, second epoch", "keras", "second", "second"),
    ("ours, `cache: memory`, first epoch", "memory", "first", "first"),
    ("ours, `cache: memory`, second epoch (cached)", "memory", "second", "second"),
    ("ours, `cache: disk`, first run, first epoch", "disk_first_run", "first", "first"),
    ("ours, `cache: disk`, first run, second epoch", "disk_first_run", "second", "second"),
    ("ours, `cache: disk`, second run, first epoch", "disk_second_run", "first", "first"),
]


def markdown(result: dict, args: argparse.Namespace, command: str) -> str:
    median, runs = result["median"], result["runs"]
    start, end = markers(args.image_size)
    lines = [
        start,
        f"### {args.image_size}×{args.image_size}",
        "",
        f"Measured {result['date']} on {result['machine']}, Python {result['python']}, "
        f"TensorFlow {result['tensorflow']}: {result['images']} images of `{args.data_dir}` at "
        f"{args.image_size}×{args.image_size}, batch {args.batch_size}, median of "
        f"{args.repeats} interleaved repeats, each case in its own process, files in the page "
        "cache beforehand. Ratios are against `image_dataset_from_directory` on the same epoch "
        "(first against first, later against its second epoch).",
        "",
        f"Reproduce: `{command}`",
        "",
        "| case | images/s | ratio | images/s, each repeat | CPU ms per image | "
        "peak memory (MiB) |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for name, case, epoch, reference in _ROWS:
        rate = median[case][f"{epoch}_epoch"]
        ratio = rate / median["keras"][f"{reference}_epoch"]
        each = ", ".join(f"{run[f'{epoch}_epoch']:,.0f}" for run in runs[case])
        lines.append(
            f"| {name} | {rate:,.0f} | {ratio:.2f}× | {each} | "
            f"{median[case][f'{epoch}_epoch_cpu_ms']:.2f} | {median[case]['peak_rss_mib']:,.0f} |"
        )
    lines += [
        "",
        f"Peak memory is the process's peak resident set, TensorFlow's own "
        f"{median['keras']['rss_after_import_mib']:,.0f} MiB after import included. "
        f"Ingestion before our pipeline (listing, full decode of every file with Pillow, "
        f"SHA-256, {result['left_out']} left out) took {result['ingestion_seconds']:.1f} s; "
        "`image_dataset_from_directory` does not validate files.",
        end,
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", required=True, help="a folder of class sub-folders")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)


def section(args: argparse.Namespace, command: str) -> tuple[str, tuple[str, str]]:
    """The Markdown section of this comparison and the markers that delimit it."""
    return markdown(compare(args), args, command), markers(args.image_size)
