"""Labelled images made from formulas: a pretraining source that needs no download.

Kataoka et al., "Pre-training without Natural Images" (ACCV 2020; FractalDB): one
category per random iterated function system (IFS: a few affine maps of the plane, each
applied with a probability), each image the system's attractor drawn by the chaos game.
Here a category's system has 2-4 contractive maps, drawn from the generator's seed and
kept only when its attractor fills a reasonable share of its bounding box (a dot or a
line teaches nothing; a filled square tells categories apart by nothing). Each image of a
category varies it: one parameter of one map nudged, colours, size, place and flips.

``write_fractal_folder`` writes them as PNG class folders (``category_000/00000.png``),
which the project's ingestion reads as it reads a user's folder. Deterministic: the same
settings give the same bytes. numpy and Pillow only; the chaos game runs a thousand
points at once.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from resnet_finetune.checks import check_count, check_flag
from resnet_finetune.files import atomic_path

# Part of each folder's name and of the pretrained weights' identity: images drawn another
# way (a change below) are new images, never mistaken for the old ones.
GENERATOR_VERSION = 1
MAPS = (2, 4)  # affine maps per system, at least and at most
MAX_NORM = 0.95  # each map shrinks every vector (spectral norm below 1): the walk stays bounded
FILLING = (0.12, 0.55)  # share of a 32x32 grid over its bounding box the attractor may cover
FILLING_GRID = 32
FILLING_POINTS = 8000
BURN_IN = 20  # chaos-game steps before a point is drawn (the walk reaches the attractor)
WALKERS = 1000  # points moved at once
NUDGE = (0.85, 1.15)  # one parameter of one map is multiplied by a factor in this range
SCALE = (0.55, 0.95)  # the drawing's longer side, as a share of the image's shorter side
MAX_DRAWS = 10000  # systems drawn for one category before giving up (about 20 are needed)


@dataclass(frozen=True)
class SyntheticImages:
    """The parameter block ``synthetic``: what ``backbone.weights: synthetic`` pretrains on.

    dir: the folder under which each setting's images are written once (one sub-folder
    per setting, named by it, reused while complete); categories: random systems, one
    class each; images_per_category; points: chaos-game points drawn per image;
    shuffle_labels: give the images random labels (each class keeps its count), a control
    that tells whether what pretraining learns comes from the categories; seed: draws the
    systems and every image (not the run's seed: one set of images serves every run)."""

    dir: str = "data/01_raw/synthetic"
    categories: int = 32
    images_per_category: int = 60
    points: int = 30000
    shuffle_labels: bool = False
    seed: int = 0

    __pydantic_config__ = {"extra": "forbid"}  # unknown keys are typos

    def __post_init__(self):
        check_count("categories", self.categories, minimum=2)
        check_count("images_per_category", self.images_per_category, minimum=2)
        check_count("points", self.points, minimum=100)
        check_flag("shuffle_labels", self.shuffle_labels)
        check_count("seed", self.seed, minimum=0)

    def settings(self) -> dict:
        """What decides the images (every field but the folder they are written under)."""
        settings = {key: value for key, value in asdict(self).items() if key != "dir"}
        return {"generator_version": GENERATOR_VERSION, **settings}

    def folder(self, image_size: tuple[int, int]) -> Path:
        """Where the images of these settings at ``image_size`` (height, width) live."""
        height, width = image_size
        name = (
            f"fractals-v{GENERATOR_VERSION}-{self.categories}x{self.images_per_category}-"
            f"{height}x{width}-{self.points}pts-seed{self.seed}"
            + ("-shuffled" if self.shuffle_labels else "")
        )
        return Path(self.dir) / name


# --- systems ---------------------------------------------------------------------------


def chaos_game(
    maps: np.ndarray, probabilities: np.ndarray, points: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``points`` points of the attractor of ``maps`` (rows ``a b c d e f``: x' = a x +
    b y + e, y' = c x + d y + f) and which map made each: ``WALKERS`` walks at once,
    each drawing a point per step after ``BURN_IN`` steps."""
    walkers = min(WALKERS, points)
    steps = -(-points // walkers)
    chosen = rng.choice(len(maps), size=(BURN_IN + steps, walkers), p=probabilities)
    xy = rng.uniform(-1, 1, (walkers, 2))
    drawn = np.empty((steps, walkers, 2))
    for step, which in enumerate(chosen):
        a, b, c, d, e, f = maps[which].T
        xy = np.stack([a * xy[:, 0] + b * xy[:, 1] + e, c * xy[:, 0] + d * xy[:, 1] + f], 1)
        if step >= BURN_IN:
            drawn[step - BURN_IN] = xy
    return drawn.reshape(-1, 2)[:points], chosen[BURN_IN:].reshape(-1)[:points]


def map_probabilities(maps: np.ndarray) -> np.ndarray:
    """Each map in proportion to the area it keeps (|determinant|, as FractalDB), at
    least a small share so that no part of the attractor is left out."""
    area = np.abs(maps[:, 0] * maps[:, 3] - maps[:, 1] * maps[:, 2])
    area = np.maximum(area, 0.02 * area.max() + 1e-6)
    return area / area.sum()


def contract(maps: np.ndarray) -> np.ndarray:
    """``maps`` with each linear part scaled down, where needed, to ``MAX_NORM``."""
    linear = maps[:, :4].reshape(-1, 2, 2)
    norms = np.linalg.norm(linear, ord=2, axis=(1, 2))
    scale = np.minimum(1.0, MAX_NORM / np.maximum(norms, 1e-12))
    contracted = maps.copy()
    contracted[:, :4] *= scale[:, None]
    return contracted


def filling(xy: np.ndarray) -> float:
    """The share of a ``FILLING_GRID`` grid over the points' bounding box that they hit."""
    low, high = xy.min(0), xy.max(0)
    extent = high - low
    if not np.all(np.isfinite(extent)) or extent.min() < 1e-6 * max(extent.max(), 1e-12):
        return 0.0
    cells = np.minimum(((xy - low) / extent * FILLING_GRID).astype(int), FILLING_GRID - 1)
    hit = np.unique(cells[:, 0] * FILLING_GRID + cells[:, 1])
    return len(hit) / FILLING_GRID**2


def draw_system(seed: int, category: int) -> np.ndarray:
    """The system of one category: 2-4 contractive maps with uniform parameters in
    [-1, 1], drawn until the attractor's ``filling`` lies within ``FILLING``. The same
    (seed, category) gives the same system, however many categories there are."""
    rng = np.random.default_rng([seed, category, 0])
    for _ in range(MAX_DRAWS):
        maps = rng.uniform(-1, 1, (int(rng.integers(MAPS[0], MAPS[1] + 1)), 6))
        if np.linalg.norm(maps[:, :4].reshape(-1, 2, 2), ord=2, axis=(1, 2)).max() >= MAX_NORM:
            continue
        xy, _ = chaos_game(maps, map_probabilities(maps), FILLING_POINTS, rng)
        if FILLING[0] <= filling(xy) <= FILLING[1]:
            return maps
    raise RuntimeError(f"no system found for category {category} (seed {seed})")


# --- images ----------------------------------------------------------------------------


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] (rows) to RGB in [0, 1]."""
    h, s, v = hsv[..., 0] % 1.0, hsv[..., 1], hsv[..., 2]
    k = (np.array([5.0, 3.0, 1.0]) + h[..., None] * 6) % 6
    return v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def render(
    maps: np.ndarray, image_size: tuple[int, int], points: int, rng: np.random.Generator
) -> np.ndarray:
    """One image (``uint8``, height x width x 3) of the system ``maps``, varied by
    ``rng``: one parameter of one map nudged (``NUDGE``), flips, size (``SCALE``), place,
    a colour per map around a random hue, and a dark or light background. A pixel's
    colour is the mean colour of the points on it, more opaque the more points."""
    height, width = image_size
    nudged = maps.copy()
    nudged[rng.integers(len(maps)), rng.integers(6)] *= rng.uniform(*NUDGE)
    nudged = contract(nudged)
    xy, which = chaos_game(nudged, map_probabilities(nudged), points, rng)
    xy = xy * np.where(rng.random(2) < 0.5, -1.0, 1.0)  # flips, left-right and up-down
    low, high = xy.min(0), xy.max(0)
    span = max(float((high - low).max()), 1e-12)
    scale = rng.uniform(*SCALE) * min(height, width) / span
    room = np.array([width, height]) - (high - low) * scale  # pixels left around it
    offset = rng.uniform(0, 1, 2) * np.maximum(room, 0) - low * scale
    columns, rows = (np.clip(xy * scale + offset, 0, [width - 1, height - 1]).astype(int)).T
    pixel = rows * width + columns

    hue = rng.random()
    colours = _hsv_to_rgb(
        np.stack(
            [
                hue + rng.uniform(-0.12, 0.12, len(maps)),
                rng.uniform(0.5, 1.0, len(maps)),
                rng.uniform(0.65, 1.0, len(maps)),
            ],
            1,
        )
    )
    dark = rng.random() < 0.7
    background = _hsv_to_rgb(
        np.array([rng.random(), rng.uniform(0, 0.6), rng.uniform(0, 0.3)])
        if dark
        else np.array([rng.random(), rng.uniform(0, 0.3), rng.uniform(0.8, 1.0)])
    )
    if not dark:
        colours = colours * 0.55  # darker drawing on a light ground
    count = np.bincount(pixel, minlength=height * width).astype(float)
    mean = (
        np.stack([np.bincount(pixel, colours[which, c], height * width) for c in range(3)], 1)
        / np.maximum(count, 1)[:, None]
    )
    alpha = 1 - np.exp(-2.0 * count / count[count > 0].mean())
    image = background * (1 - alpha[:, None]) + mean * alpha[:, None]
    return np.round(image.reshape(height, width, 3) * 255).astype(np.uint8)


def fractal_images(spec: SyntheticImages, image_size: tuple[int, int]):
    """``(label, number, image)`` for every image of ``spec``: the ``number``-th image
    (all categories counted together) and the category it is filed under (its own, or a
    random one with ``shuffle_labels``: the same images, other labels)."""
    labels = np.repeat(np.arange(spec.categories), spec.images_per_category)
    if spec.shuffle_labels:
        labels = np.random.default_rng([spec.seed, 1]).permutation(labels)
    for category in range(spec.categories):
        maps = draw_system(spec.seed, category)
        for index in range(spec.images_per_category):
            number = category * spec.images_per_category + index
            rng = np.random.default_rng([spec.seed, category, index + 1])
            yield int(labels[number]), number, render(maps, image_size, spec.points, rng)


def _category(label: int) -> str:
    return f"category_{label:03d}"


def is_complete(folder: Path, spec: SyntheticImages) -> bool:
    """Whether ``folder`` holds every image of ``spec`` (one folder per category, each
    with its images): a folder damaged or cut short is written again."""
    if not folder.is_dir():
        return False
    expected = {_category(label) for label in range(spec.categories)}
    found = {entry.name for entry in os.scandir(folder) if not entry.name.startswith(".")}
    if found != expected:
        return False
    return all(
        sum(name.endswith(".png") for name in os.listdir(folder / name)) == spec.images_per_category
        for name in expected
    )


def write_fractal_folder(spec: SyntheticImages, image_size: tuple[int, int]) -> Path:
    """The folder of ``spec``'s images at ``image_size`` (height, width): written once
    (whole or not at all), then reused while complete. Returns its path."""
    folder = spec.folder(tuple(image_size))
    if is_complete(folder, spec):
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    try:
        with atomic_path(folder) as partial:
            for label, number, pixels in fractal_images(spec, tuple(image_size)):
                path = partial / _category(label) / f"{number:05d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels, mode="RGB").save(path)
    except OSError:
        if not is_complete(folder, spec):  # another process wrote it first: theirs is kept
            raise
    return folder


def example_grid(images: list[np.ndarray], columns: int, tile: int = 64) -> np.ndarray:
    """``images`` (uint8, any sizes) side by side, ``columns`` a row, each resized to a
    ``tile`` x ``tile`` square (nearest pixels, so that small images stay sharp) with a
    2-pixel grey border: one picture (uint8, height x width x 3) to look at."""
    rows = -(-len(images) // columns)
    step = tile + 2
    grid = np.full((rows * step + 2, columns * step + 2, 3), 128, np.uint8)
    for position, pixels in enumerate(images):
        picture = Image.fromarray(pixels).convert("RGB").resize((tile, tile), Image.NEAREST)
        top, left = (2 + place * step for place in divmod(position, columns))
        grid[top : top + tile, left : left + tile] = np.asarray(picture)
    return grid
