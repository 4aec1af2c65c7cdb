"""The embedded default data set: scikit-learn's bundled handwritten digits as PNGs.

No download: the 1,797 8x8 scans ship inside scikit-learn. Writing them as class
folders lets the default run take exactly the code path a user's own folder takes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from resnet_finetune.data.listing import image_source


def image_folder(data_dir: str | None, embedded: dict) -> str:
    """The images a task reads: its ``data_dir`` (a folder or a CSV list), or, when that
    is unset, the embedded digits (``embedded``: ``dir``, ``digits``) written as PNG class
    folders."""
    if data_dir is None or str(data_dir).strip() == "":
        return str(write_digits_folder(embedded["dir"], list(embedded["digits"])))
    return str(image_source(data_dir).resolve())


def write_digits_folder(root: str | Path, digits: list[int]) -> Path:
    """Write the bundled scans of ``digits`` to ``root/<digit>/<index>.png``.

    Files already present are kept as they are, so a second run rewrites nothing.
    """
    if not digits or any(d not in range(10) for d in digits):
        raise ValueError(f"digits={digits!r}: give a non-empty list of digits 0-9")
    root = Path(root)
    bunch = load_digits()
    # Scans hold 17 grey levels (0-16); stretch them to the full 8-bit range.
    pixels = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    for index, (image, label) in enumerate(zip(pixels, bunch.target)):
        if label not in digits:
            continue
        path = root / str(label) / f"{index:04d}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, mode="L").save(path)
    return root
