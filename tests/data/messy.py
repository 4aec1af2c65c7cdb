"""A folder of every kind of image file users bring, good and bad, with known pixels."""

from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import write_image

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _halves(left, right, size=(20, 10)) -> np.ndarray:
    """A ``size`` (width, height) RGB array: ``left`` colour on the left half."""
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[:, : size[0] // 2] = left
    pixels[:, size[0] // 2 :] = right
    return pixels


# file name -> the RGB pixels the input pipeline must produce at the image's own size
def write_good_images(folder: Path) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    halves = _halves(RED, BLUE)

    Image.fromarray(halves).save(folder / "rgb.png")
    expected["rgb.png"] = halves

    Image.fromarray(halves).save(folder / "UPPER.PNG")
    expected["UPPER.PNG"] = halves

    grey = np.full((10, 20), 77, np.uint8)
    Image.fromarray(grey, mode="L").save(folder / "grey.png")
    expected["grey.png"] = np.stack([grey] * 3, -1)

    rgba = np.zeros((10, 20, 4), np.uint8)
    rgba[:, 10:] = (*BLUE, 255)  # left half fully transparent (black underneath)
    Image.fromarray(rgba, mode="RGBA").save(folder / "alpha.png")
    expected["alpha.png"] = _halves(WHITE, BLUE)

    palette = Image.fromarray(halves).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    palette.save(folder / "palette.gif")
    expected["palette.gif"] = halves

    see_through = palette.copy()
    red_index = see_through.getpixel((0, 0))
    see_through.save(folder / "palette_transparent.png", transparency=red_index)
    expected["palette_transparent.png"] = _halves(WHITE, BLUE)

    cmyk = Image.new("CMYK", (20, 10), (0, 255, 255, 0))  # pure red in CMYK
    cmyk.save(folder / "cmyk.jpg", quality=100)
    expected["cmyk.jpg"] = np.full((10, 20, 3), RED, np.uint8)

    sixteen = np.full((10, 20), 128 * 257, np.uint16)
    Image.fromarray(sixteen).save(folder / "sixteen.png")  # mode I;16
    expected["sixteen.png"] = np.full((10, 20, 3), 128, np.uint8)

    Image.fromarray(halves).save(folder / "photo.webp", lossless=True)
    expected["photo.webp"] = halves

    Image.fromarray(halves).save(folder / "scan.tif")
    expected["scan.tif"] = halves

    # Stored landscape 20x10 with EXIF orientation 6: displayed portrait 10x20, red on top.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(halves).save(folder / "rotated.jpg", exif=exif, quality=100, subsampling=0)
    expected["rotated.jpg"] = np.rot90(halves, k=-1)

    write_image(folder / "deeper" / "nested.png", size=(20, 10), seed=3)
    expected["nested.png"] = np.asarray(Image.open(folder / "deeper" / "nested.png"))
    return expected


# file name -> reason the ingestion report must give
BAD_REASONS = {
    "empty.jpg": "empty file",
    "truncated.jpg": "unreadable",
    "notes.jpg": "not an image",
    "drawing.svg": "not an image type",
    "icon.png": "unsupported format",
    "tiny.png": "too small",
    "huge.png": "too many pixels",
    ".DS_Store": "hidden",
    "checkpoint.png": "hidden",
    ".secret.png": "hidden",
    "loose.png": "no class",
}
MAX_PIXELS = 150 * 150


def write_bad_files(folder: Path, root: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    good = write_image(folder / "big.jpg", size=(64, 64), fmt="JPEG")
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[:300])
    good.unlink()
    (folder / "notes.jpg").write_text("a text file with an image's name")
    (folder / "drawing.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    Image.new("RGB", (32, 32)).save(folder / "icon.png", format="ICO")
    write_image(folder / "tiny.png", size=(3, 3))
    write_image(folder / "huge.png", size=(200, 200))
    (root / ".DS_Store").write_bytes(b"\0\1")
    write_image(root / ".ipynb_checkpoints" / "checkpoint.png")
    write_image(folder / ".secret.png")
    write_image(root / "loose.png")


def write_messy_folder(root: Path) -> dict[str, np.ndarray]:
    """Two classes: ``good`` holds an image of every mode, ``other`` three plain images and
    every kind of bad file (plus hidden and loose files around them)."""
    expected = write_good_images(root / "good")
    for index in range(3):
        write_image(root / "other" / f"{index}.png", size=(20, 10), seed=10 + index)
    write_bad_files(root / "other", root)
    return expected
