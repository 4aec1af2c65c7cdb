"""Ingestion with near-duplicate detection against ingestion without it, on many small
generated images (``python -m resnet_finetune.bench.near_duplicates``).

The images are smooth colour gradients under soft shapes (what perceptual hashes are
for), written once as PNG. Both cases run ``build_manifest`` on the same folder in this
process, interleaved and repeated after one warm-up pass (the files in the page cache);
medians are reported.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from resnet_finetune.bench.common import machine
from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.manifest import build_manifest
from resnet_finetune.data.quality import QualitySpec, near_duplicate_table
from resnet_finetune.data.split import SplitSpec


def generated_image(seed: int, size: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    a, b, c = rng.normal(size=(3, 3))
    pixels = np.sin(3 * a * x[..., None] + 3 * b * y[..., None] + c)
    cx, cy, radius = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
    pixels[(x - cx) ** 2 + (y - cy) ** 2 < radius**2] += rng.normal(0, 1, 3)
    pixels = (pixels - pixels.min()) / (np.ptp(pixels) + 1e-9) * 255
    return Image.fromarray(pixels.astype(np.uint8))


def write_folder(root: Path, count: int, size: int, classes: int = 10) -> Path:
    """``count`` images in ``classes`` class folders (kept when already there)."""
    done = root / f".complete-{count}-{size}"
    if not done.exists():
        for n in range(count):
            path = root / f"class_{n % classes}" / f"{n}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            generated_image(n, size).save(path, compress_level=1)
        done.touch()
    return root


def ingest_seconds(root: Path, near_duplicates: bool, converted: Path) -> tuple[float, int]:
    start = time.perf_counter()
    manifest, _, _ = build_manifest(
        root,
        SplitSpec(val_fraction=0.15, test_fraction=0.15),
        ImageChecks(),
        converted,
        QualitySpec(near_duplicates=near_duplicates),
    )
    copies = near_duplicate_table(manifest)  # what the ingestion node also computes
    return time.perf_counter() - start, len(copies)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40_000)
    parser.add_argument("--size", type=int, default=32, help="pixels a side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "nd_bench")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    root = write_folder(args.dir / "images", args.images, args.size)
    print(
        f"{args.images} images of {args.size}x{args.size} in {root} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    converted = args.dir / "converted"
    ingest_seconds(root, False, converted)  # warm-up: the files into the page cache
    times = {False: [], True: []}
    for repeat in range(args.repeats):
        for detection in (True, False) if repeat % 2 else (False, True):
            seconds, copies = ingest_seconds(root, detection, converted)
            times[detection].append(seconds)
            print(f"near_duplicates={detection}: {seconds:.2f} s ({copies} rows of copies)")
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"\n{datetime.date.today()} {machine()}")
    print(f"median of {args.repeats}: without {off:.2f} s, with {on:.2f} s, ratio {on / off:.3f}")


if __name__ == "__main__":
    main()
