"""Ingestion twice over one folder: the second run reuses the validation cache.

``python -m resnet_finetune.bench.ingestion_cache --images 40000 --folder /tmp/many``
writes (once) a folder of small generated PNGs in four classes, then times the
ingestion's library work (list, validate, near-duplicates, split, summary), each time in
a new process as a run does, twice with one intermediate folder: the first run reads
every file, the second only new or changed ones.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image


def make_folder(folder: Path, images: int, side: int = 16, classes: int = 4) -> None:
    marker = folder / f".complete-{images}-{side}"
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(0)
    for index in range(images):
        path = folder / f"class_{index % classes}" / f"{index:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
    marker.touch()


def ingest(folder: Path, intermediate: Path) -> float:
    """Seconds of the ingestion's library work on ``folder``: list, validate (with the
    cache under ``intermediate``), copies table, split, class weights and summaries."""
    from resnet_finetune.data.class_weights import balanced_class_weights
    from resnet_finetune.data.images import ImageChecks
    from resnet_finetune.data.manifest import build_manifest, summarise
    from resnet_finetune.data.quality import QualitySpec, near_duplicate_table, quality_summary
    from resnet_finetune.data.split import SplitSpec
    from resnet_finetune.data.validation import validated_cache

    start = time.perf_counter()
    quality = QualitySpec()
    manifest, report, _ = build_manifest(
        folder,
        SplitSpec(val_fraction=0.15, test_fraction=0.15),
        ImageChecks(min_side=8),
        intermediate / "converted",
        quality,
        validated_cache(intermediate, folder),
    )
    balanced_class_weights(manifest)
    quality_summary(manifest, report, near_duplicate_table(manifest), quality)
    summarise(manifest, report)
    elapsed = time.perf_counter() - start
    assert len(manifest) + len(report) >= len(list(folder.glob("*/*.png")))
    return elapsed


def ingest_in_a_new_process(folder: Path, intermediate: Path) -> float:
    """``ingest`` as a run does it: in a process of its own, which walks the folder (a
    process keeps the walk of an unchanged folder, ``data.listing``)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(ingest, folder, intermediate).result()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m resnet_finetune.bench.ingestion_cache")
    parser.add_argument("--images", type=int, default=40000)
    parser.add_argument("--side", type=int, default=16, help="pixels of each square image")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "many")
    args = parser.parse_args(argv)
    make_folder(args.folder, args.images, args.side)
    with tempfile.TemporaryDirectory() as intermediate:
        first = ingest_in_a_new_process(args.folder, Path(intermediate))
        second = ingest_in_a_new_process(args.folder, Path(intermediate))
    print(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "images": args.images,
                "first_s": round(first, 2),
                "second_s": round(second, 2),
                "speed_up": round(first / second, 1),
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                "load_average": os.getloadavg(),
            }
        )
    )


if __name__ == "__main__":
    main()
