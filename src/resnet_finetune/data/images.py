"""Open one image file with Pillow: check it, read its facts, and give an RGB copy when
TensorFlow's decoders would not read it faithfully.

TensorFlow decodes 8-bit RGB or greyscale JPEG, PNG and BMP exactly as Pillow does. It
does not read WebP or TIFF, ignores EXIF orientation, drops alpha without compositing,
and mishandles CMYK and 16-bit images; those files get a converted RGB PNG instead.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from resnet_finetune.checks import check_count
from resnet_finetune.data.quality import MIN_HASH_SIDE, hash_thumbnail
from resnet_finetune.errors import ParameterError
from resnet_finetune.files import atomic_path

# Pillow's names of the formats we accept; MPO is the multi-picture JPEG of cameras.
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP", "TIFF"}
_TF_NATIVE_FORMATS = {"JPEG", "MPO", "PNG", "BMP"}
_TF_NATIVE_MODES = {"RGB", "L"}
_EXIF_ORIENTATION = 0x0112
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


@dataclass(frozen=True)
class ImageChecks:
    """What makes a file usable, and how transparency is flattened: the parameter block
    ``<task>.validation``. Files failing these are left out and listed in the report.

    min_side: pixels, the shorter side at least; max_pixels: larger images are refused
    (decompression bombs), at least ``min_side``²; background: the RGB colour under
    transparent pixels.
    """

    min_side: int = 8
    max_pixels: int = 90_000_000
    background: tuple[int, int, int] = (255, 255, 255)

    # Unknown keys are typos; YAML gives the background as a list.
    __pydantic_config__ = {"extra": "forbid"}

    def __post_init__(self):
        # Parameters arrive from YAML as lists; a frozen dataclass keeps a tuple.
        object.__setattr__(self, "background", tuple(self.background))
        check_count("min_side", self.min_side, minimum=1)
        check_count("max_pixels", self.max_pixels, minimum=max(1, self.min_side**2))
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ParameterError(f"background={list(self.background)!r} must be three values 0-255")


def _png_bit_depth(data: bytes) -> int:
    return data[24] if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24 else 8


def _needs_conversion(image: Image.Image, data: bytes) -> bool:
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    return (
        image.format not in _TF_NATIVE_FORMATS
        or image.mode not in _TF_NATIVE_MODES
        or orientation not in (0, 1)
        or "transparency" in image.info
        or _png_bit_depth(data) == 16
    )


def to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Upright 8-bit RGB: EXIF orientation applied, 16 bits scaled, alpha composited."""
    image = ImageOps.exif_transpose(image)
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        if values.max(initial=0) > 65535:
            raise ValueError(f"mode {image.mode} holds values above 16 bits")
        image = Image.fromarray(np.round(values / 257).astype(np.uint8), mode="L")
    elif image.mode == "F":
        raise ValueError("floating-point images (mode F) have no defined 8-bit range")
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    if not has_alpha:
        return image.convert("RGB")
    flat = Image.new("RGBA", image.size, (*background, 255))
    return Image.alpha_composite(flat, image.convert("RGBA")).convert("RGB")


def _save_png(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as partial:
        image.save(partial, format="PNG", compress_level=1)


def _converted_name(sha256: str, background: tuple[int, int, int]) -> str:
    """The RGB copy of the image whose content is ``sha256``: the background colour
    changes the pixels of transparent images, so it is in the name."""
    return f"{sha256}-{''.join(f'{c:02x}' for c in background)}.png"


def remake_converted(rows) -> None:
    """Make again each missing RGB copy (``read_path``) of ``rows`` (manifest-like: path,
    read_path, sha256) from its source file, as ingestion made it: a deleted
    ``data/02_intermediate/converted`` costs a conversion, not a run. A source that is gone
    or whose bytes changed is refused, naming it: a copy of other pixels would be a
    silently wrong image."""
    for path, read_path, sha256 in rows[["path", "read_path", "sha256"]].itertuples(index=False):
        if read_path == path or os.path.exists(read_path):
            continue
        remedy = (
            f"its converted copy {read_path!r} is missing and cannot be made again from {path!r}"
        )
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise FileNotFoundError(f"{remedy}: {error.strerror}; ingest the data again") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"{remedy}: that file has changed since ingestion (its SHA-256)")
        tag = Path(read_path).stem.removeprefix(f"{sha256}-")
        try:
            background = tuple(bytes.fromhex(tag))
        except ValueError:
            background = ()  # not a name ingestion gives: refused just below
        if Path(read_path).name != _converted_name(sha256, background):
            raise ValueError(f"{remedy}: it is not named as ingestion names converted copies")
        with Image.open(io.BytesIO(data)) as image:
            rgb = to_rgb(image, background)
        Path(read_path).parent.mkdir(parents=True, exist_ok=True)
        _save_png(rgb, Path(read_path))


def inspect_image(
    path: str, checks: ImageChecks, converted_dir: Path, perceptual: bool = False
) -> tuple[dict | None, tuple[str, str] | None]:
    """Decode one file fully; return its facts, or ``(reason, detail)`` why it cannot be used.

    Facts: sha256, width and height as displayed (after EXIF orientation), the original
    mode, ``read_path``, the file the input pipeline decodes (the file itself, or an RGB
    PNG in ``converted_dir`` named by the content hash, reused by later runs) and the
    image format of ``read_path``; with ``perceptual``, ``hash_thumbnail``, what the
    perceptual hash of the upright RGB image needs (``quality.hash_thumbnail``, hashed
    in bulk by ``quality.perceptual_hashes``; empty otherwise, and for images under
    ``quality.MIN_HASH_SIDE`` pixels a side), from the same decoding.
    """
    data = Path(path).read_bytes()
    if not data:
        return None, ("empty file", "0 bytes")
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ACCEPTED_FORMATS:
                return None, (
                    "unsupported format",
                    f"{image.format}; accepted: {sorted(ACCEPTED_FORMATS)}",
                )
            width, height = image.size
            if width * height > checks.max_pixels:
                detail = f"{width}x{height} exceeds validation.max_pixels={checks.max_pixels}"
                return None, ("too many pixels", detail)
            image.load()  # decodes every byte: catches truncated files
            mode, image_format = image.mode, image.format
            converted = _needs_conversion(image, data)
            if converted:
                rgb = to_rgb(image, checks.background)
                width, height = rgb.size
            hashable = perceptual and min(width, height) >= MIN_HASH_SIDE
            thumbnail = hash_thumbnail(rgb if converted else image) if hashable else b""
    except UnidentifiedImageError:
        return None, ("not an image", "Pillow recognises no image format")
    except Image.DecompressionBombError as error:
        return None, ("too many pixels", f"decompression bomb: {error}")
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        return None, ("unreadable", str(error))
    if min(width, height) < checks.min_side:
        return None, ("too small", f"{width}x{height}; validation.min_side={checks.min_side}")
    read_path = path
    if converted:
        target = Path(converted_dir) / _converted_name(sha256, checks.background)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            _save_png(rgb, target)
        read_path = str(target)
    return {
        "sha256": sha256,
        "width": width,
        "height": height,
        "mode": mode,
        "read_path": read_path,
        "format": "PNG" if converted else image_format,
        "hash_thumbnail": thumbnail,
    }, None
