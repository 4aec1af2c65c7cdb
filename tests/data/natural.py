"""Natural-looking generated images (smooth colour gradients under a few soft shapes),
and altered copies of them: what perceptual hashes are meant for, unlike pure noise."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def natural_image(seed: int, size: int = 48) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    pixels = np.zeros((size, size, 3))
    for channel in range(3):
        a, b, c, d = rng.normal(size=4)
        pixels[..., channel] = np.sin(3 * a * x + 3 * b * y + c) + d * x * y
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(0.15, 0.85, 2)
        radius = rng.uniform(0.08, 0.3)
        inside = (x - cx) ** 2 + (y - cy) ** 2 < radius**2
        pixels[inside] += rng.normal(0, 1.0, 3)
    pixels = (pixels - pixels.min()) / (np.ptp(pixels) + 1e-9) * 255
    return Image.fromarray(pixels.astype(np.uint8))


def altered_copy(image: Image.Image, seed: int, crop: float = 0.0) -> Image.Image:
    """Resized to 0.5-0.9x and re-encoded as JPEG of quality 60-90 (optionally cropped
    by up to ``crop`` of each side first)."""
    rng = np.random.default_rng(seed)
    if crop:
        w, h = image.size
        left, top, right, bottom = (rng.uniform(0, crop, 4) * [w, h, w, h]).astype(int)
        image = image.crop((left, top, w - right, h - bottom))
    scale = rng.uniform(0.5, 0.9)
    w, h = image.size
    small = image.resize((max(8, round(w * scale)), max(8, round(h * scale))), Image.BILINEAR)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=int(rng.integers(60, 91)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def save(image: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
