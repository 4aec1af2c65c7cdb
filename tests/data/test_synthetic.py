"""The fractal generator: seeded to the byte, categories that differ by shape, and a
folder the project's own ingestion reads."""

import numpy as np
import pytest
from PIL import Image

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.manifest import build_manifest
from resnet_finetune.data.split import SplitSpec
from resnet_finetune.data.synthetic import (
    SyntheticImages,
    example_grid,
    fractal_images,
    is_complete,
    write_fractal_folder,
)
from resnet_finetune.errors import ParameterError

SMALL = {"categories": 6, "images_per_category": 12, "points": 4000}


def files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_the_same_seed_writes_the_same_bytes_and_another_seed_other_images(tmp_path):
    first = write_fractal_folder(SyntheticImages(dir=str(tmp_path / "a"), **SMALL), (24, 24))
    again = write_fractal_folder(SyntheticImages(dir=str(tmp_path / "b"), **SMALL), (24, 24))
    other = write_fractal_folder(
        SyntheticImages(dir=str(tmp_path / "c"), seed=1, **SMALL), (24, 24)
    )
    assert len(files(first)) == 6 * 12
    assert files(first) == files(again)
    assert sorted(p.name for p in first.iterdir()) == [f"category_{c:03d}" for c in range(6)]
    # Same names (category, number), other pixels: no image of seed 0 comes back.
    assert files(other).keys() == files(first).keys()
    assert not set(files(other).values()) & set(files(first).values())


def test_a_folder_is_written_once_and_again_when_damaged(tmp_path):
    spec = SyntheticImages(dir=str(tmp_path), **SMALL)
    folder = write_fractal_folder(spec, (16, 20))
    assert folder.name == "fractals-v1-6x12-16x20-4000pts-seed0"
    assert Image.open(next(folder.rglob("*.png"))).size == (20, 16)  # width, height
    written = {p: p.stat().st_mtime_ns for p in folder.rglob("*.png")}
    assert write_fractal_folder(spec, (16, 20)) == folder
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.png")} == written
    next(folder.rglob("*.png")).unlink()
    assert not is_complete(folder, spec)
    write_fractal_folder(spec, (16, 20))
    assert is_complete(folder, spec) and len(list(folder.rglob("*.png"))) == 6 * 12
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # nothing half-written left


def shape(image: np.ndarray) -> np.ndarray:
    """What a category keeps whatever the image's colours, place, size and flips: the
    drawing's distance from the background colour, cut to its bounding box, 12x12, summed
    over the four flips."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(float)
    drawing = np.abs(image - np.median(border, 0)).sum(-1)
    rows, columns = np.nonzero(drawing > 0.2 * drawing.max())
    box = drawing[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    small = np.asarray(Image.fromarray(box / box.max()).resize((12, 12), Image.BILINEAR))
    return (small + small[::-1] + small[:, ::-1] + small[::-1, ::-1]).ravel()


def nearest_centroid_accuracy(spec: SyntheticImages) -> float:
    """Train on two images in three, score the third, by the nearest category centroid."""
    labels, features = [], []
    for label, _, image in fractal_images(spec, (32, 32)):
        labels.append(label)
        features.append(shape(image))
    labels, features = np.array(labels), np.array(features)
    test = np.arange(len(labels)) % 3 == 0
    centroids = np.array([features[~test & (labels == c)].mean(0) for c in range(spec.categories)])
    distances = ((features[test][:, None] - centroids[None]) ** 2).sum(-1)
    return float((distances.argmin(1) == labels[test]).mean())


def test_categories_differ_by_shape_and_shuffled_labels_do_not():
    spec = {"categories": 8, "images_per_category": 24, "points": 4000}
    # Chance is 1/8 = 0.125; measured 1.0 and 0.17 (seed 0).
    assert nearest_centroid_accuracy(SyntheticImages(**spec)) >= 0.9
    assert nearest_centroid_accuracy(SyntheticImages(shuffle_labels=True, **spec)) <= 0.3


def test_shuffled_labels_file_the_same_images_under_other_categories(tmp_path):
    folders = [
        write_fractal_folder(
            SyntheticImages(dir=str(tmp_path), shuffle_labels=shuffled, **SMALL), (16, 16)
        )
        for shuffled in (False, True)
    ]
    assert folders[1].name.endswith("-shuffled")
    plain, shuffled = ({p.name: p.parent.name for p in f.rglob("*.png")} for f in folders)
    assert plain.keys() == shuffled.keys()
    for folder in folders:  # every category keeps its count
        assert {len(list(c.iterdir())) for c in folder.iterdir()} == {12}
    moved = sum(plain[name] != shuffled[name] for name in plain)
    assert moved > 0.6 * len(plain)
    by_name = [{p.name: p.read_bytes() for p in f.rglob("*.png")} for f in folders]
    assert by_name[0] == by_name[1]


def test_the_projects_ingestion_reads_the_folder(tmp_path):
    folder = write_fractal_folder(SyntheticImages(dir=str(tmp_path), **SMALL), (24, 24))
    split = SplitSpec(val_fraction=0.25, test_fraction=0.0)
    manifest, report, class_map = build_manifest(
        folder, split, ImageChecks(), tmp_path / "conv", seed=3
    )
    assert report.empty
    assert list(class_map) == [f"category_{c:03d}" for c in range(6)]
    assert len(manifest) == 72 and set(manifest["split"]) == {"train", "val"}
    assert (manifest.groupby("label").size() == 12).all()


def test_example_grid_lays_images_out_in_rows():
    images = [np.full((8, 10, 3), value, np.uint8) for value in (0, 50, 100, 150, 200)]
    grid = example_grid(images, columns=2, tile=16)
    assert grid.shape == (3 * 18 + 2, 2 * 18 + 2, 3)
    assert (grid[2:18, 20:36] == 50).all() and (grid[38:54, 2:18] == 200).all()
    assert (grid[38:54, 20:36] == 128).all()  # the empty sixth place


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"categories": 1}, "categories=1 must be an integer >= 2"),
        ({"images_per_category": 1.5}, "images_per_category=1.5 must be an integer >= 2"),
        ({"shuffle_labels": "yes"}, "shuffle_labels='yes' must be true or false"),
        ({"seed": -1}, "seed=-1 must be an integer >= 0"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(given, message):
    with pytest.raises(ParameterError, match=message):
        SyntheticImages(**given)
