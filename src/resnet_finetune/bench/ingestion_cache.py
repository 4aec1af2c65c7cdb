"""Ingestion twice over one folder: the second run reuses the validation cache.

``python -m resnet_finetune.bench.ingestion_cache --images 40000 --folder /tmp/many``
writes (once) a folder of small generated PNGs in four classes, then times the
ingestion node's work (list, validate, near-duplicates, split, summary) twice with one
intermediate folder: the first run reads every file, the second only new or changed ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
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
    from resnet_finetune.pipelines.ingestion.nodes import ingest_images

    start = time.perf_counter()
    manifest, report, *_ = ingest_images(
        str(folder),
        {"val_fraction": 0.15, "test_fraction": 0.15},
        {"min_side": 8},
        "none",
        str(intermediate),
        42,
    )
    elapsed = time.perf_counter() - start
    assert len(manifest) + len(report) >= len(list(folder.glob("*/*.png")))
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m resnet_finetune.bench.ingestion_cache")
    parser.add_argument("--images", type=int, default=40000)
    parser.add_argument("--side", type=int, default=16, help="pixels of each square image")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "many")
    args = parser.parse_args(argv)
    make_folder(args.folder, args.images, args.side)
    with tempfile.TemporaryDirectory() as intermediate:
        first = ingest(args.folder, Path(intermediate))
        second = ingest(args.folder, Path(intermediate))
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
