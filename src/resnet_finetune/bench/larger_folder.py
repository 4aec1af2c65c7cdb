"""A larger folder of photographs made from a smaller one, to time a run on it:
``python -m resnet_finetune.bench.larger_folder SRC DST --images 2000``.

``SRC`` holds ``train/`` and ``val/`` with one sub-folder per class of ``.jpg``
photographs (hymenoptera's layout; other files are left aside); ``DST`` gets the same
layout with ``images`` files, 85% of them training ones, shared equally among the
classes. Each is a random crop (55-100% of the sides), scaled
down (60-100%) and mirrored half the time, kept only if its 160-bit hash
(``data.quality.perceptual_hash``: pHash and colour layout) differs in more than
``MIN_BITS`` bits from every image kept in its class.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageOps

from resnet_finetune.data.quality import perceptual_hash

MIN_BITS = 10
TRAIN_SHARE = 0.85


def variants(path: Path, rng: random.Random) -> Iterator[Image.Image]:
    """Endless random crops, scalings and mirror images of the photograph at ``path``."""
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    width, height = image.size
    while True:
        side = rng.uniform(0.55, 1.0)
        crop_w, crop_h = int(width * side), int(height * side)
        x, y = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
        out = image.crop((x, y, x + crop_w, y + crop_h))
        out = out.resize((int(crop_w * rng.uniform(0.6, 1.0)), int(crop_h * rng.uniform(0.6, 1.0))))
        yield ImageOps.mirror(out) if rng.random() < 0.5 else out


def make_folder(source: Path, destination: Path, images: int, seed: int = 0) -> dict:
    """Write ``images`` photographs under ``destination`` (see the module); returns the
    number written per split and class."""
    rng = random.Random(seed)
    written: dict = {}
    train = round(images * TRAIN_SHARE)
    for split, total in (("train", train), ("val", images - train)):
        classes = sorted(p.name for p in (source / split).iterdir() if p.is_dir())
        for label in classes:
            files = sorted((source / split / label).glob("*.jpg"))
            generators = [variants(f, rng) for f in files]
            kept: list[int] = []
            folder = destination / split / label
            folder.mkdir(parents=True, exist_ok=True)
            tries = 0
            while len(kept) < total // len(classes):
                image = next(generators[tries % len(generators)])
                tries += 1
                bits = int(perceptual_hash(image), 16)
                if all(bin(bits ^ other).count("1") > MIN_BITS for other in kept):
                    kept.append(bits)
                    image.save(folder / f"{label}_{len(kept):04d}.jpg", quality=90)
            written[f"{split}/{label}"] = len(kept)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m resnet_finetune.bench.larger_folder")
    parser.add_argument("source", type=Path)
    parser.add_argument("destination", type=Path)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for key, count in make_folder(args.source, args.destination, args.images, args.seed).items():
        print(key, count)


if __name__ == "__main__":
    main()
