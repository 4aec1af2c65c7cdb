"""Ingestion of a folder holding every kind of good and bad file users bring."""

from pathlib import Path

import numpy as np
import pytest

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.input_pipeline import image_dataset
from resnet_finetune.data.listing import discover_files, read_csv_list
from resnet_finetune.data.manifest import build_manifest
from resnet_finetune.data.split import SplitSpec
from tests.conftest import write_image
from tests.data.messy import BAD_REASONS, MAX_PIXELS, write_messy_folder


@pytest.fixture
def messy(tmp_path):
    root = tmp_path / "messy"
    expected = write_messy_folder(root)
    manifest, report, class_map = build_manifest(
        root,
        SplitSpec(val_fraction=0, test_fraction=0),
        ImageChecks(max_pixels=MAX_PIXELS),
        tmp_path / "converted",
    )
    return root, expected, manifest, report, class_map


def _name(path: str) -> str:
    return Path(path).name


def test_every_file_is_kept_or_reported_with_its_reason(messy):
    root, expected, manifest, report, class_map = messy
    present = [p for p in root.rglob("*") if p.is_file()]
    assert len(manifest) + len(report) == len(present)
    assert dict(zip(report["path"].map(_name), report["reason"])) == BAD_REASONS
    assert set(manifest["path"].map(_name)) == {*expected, "0.png", "1.png", "2.png"}
    assert class_map == {"good": 0, "other": 1}  # hidden folders are never classes
    assert report["detail"].str.len().min() > 0


def test_every_mode_reaches_the_model_as_the_right_rgb_pixels(messy):
    _, expected, manifest, _, _ = messy
    for name, pixels in expected.items():
        row = manifest[manifest["path"].map(_name) == name].assign(split="train")
        assert (row["height"].item(), row["width"].item()) == pixels.shape[:2], name
        dataset = image_dataset(
            row, "train", image_size=pixels.shape[:2], batch_size=1, shuffle=False, seed=0
        )
        images, _ = next(iter(dataset))
        tolerance = 6 if name.endswith(".jpg") else 0  # JPEG is lossy even at quality 100
        np.testing.assert_allclose(images[0].numpy(), pixels, atol=tolerance, err_msg=name)


def test_only_files_tensorflow_cannot_read_faithfully_are_converted(messy, tmp_path):
    _, _, manifest, _, _ = messy
    converted = manifest["read_path"] != manifest["path"]
    names = set(manifest.loc[converted, "path"].map(_name))
    assert names == {
        "alpha.png",
        "palette.gif",
        "palette_transparent.png",
        "cmyk.jpg",
        "sixteen.png",
        "photo.webp",
        "scan.tif",
        "rotated.jpg",
    }
    assert manifest.loc[manifest["path"].map(_name) == "cmyk.jpg", "mode"].item() == "CMYK"
    assert all(
        Path(p).parent == tmp_path / "converted" for p in manifest.loc[converted, "read_path"]
    )


def test_a_second_ingestion_reuses_the_converted_files(messy, tmp_path):
    root, _, manifest, _, _ = messy
    converted = sorted((tmp_path / "converted").iterdir())
    stamps = [p.stat().st_mtime_ns for p in converted]
    again, _, _ = build_manifest(
        root,
        SplitSpec(val_fraction=0, test_fraction=0),
        ImageChecks(max_pixels=MAX_PIXELS),
        tmp_path / "converted",
    )
    assert [p.stat().st_mtime_ns for p in sorted((tmp_path / "converted").iterdir())] == stamps
    assert again["read_path"].tolist() == manifest["read_path"].tolist()


def test_csv_list_reads_paths_from_its_folder_and_refuses_escapes(tmp_path):
    root = tmp_path / "data"
    for c, label in enumerate(("cat", "dog")):
        for index in range(3):
            write_image(root / "pics" / f"{label}{index}.png", seed=10 * c + index)
    write_image(tmp_path / "outside.png")
    lines = ["path,label,split"]
    lines += [
        f"pics/{label}{i}.png,{label},{'train' if i else 'val'}"
        for label in ("cat", "dog")
        for i in range(3)
    ]
    lines += [
        "../outside.png,cat,train",
        "pics/missing.png,dog,train",
        "pics/cat1.png,cat,train",
        "pics/dog1.png,,train",
    ]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    manifest, report, class_map = build_manifest(
        root / "labels.csv", SplitSpec(), ImageChecks(), tmp_path / "converted"
    )
    assert class_map == {"cat": 0, "dog": 1}
    # The declared val rows are the test split; validation is carved from train.
    assert manifest.groupby("split").size().to_dict() == {"train": 2, "val": 2, "test": 2}
    assert report["reason"].tolist() == [
        "outside the data root",
        "missing",
        "listed twice",
        "listed twice",
    ]
    assert len(manifest) + len(report) == len(lines) - 1


def test_csv_list_with_a_bad_split_or_no_label_column_names_the_file(tmp_path):
    write_image(tmp_path / "a.png")
    (tmp_path / "list.csv").write_text("path,label,split\na.png,cat,tset\n")
    with pytest.raises(ValueError, match=r"list.csv' line 2: split 'tset' is not allowed"):
        read_csv_list(tmp_path / "list.csv")
    (tmp_path / "list.csv").write_text("file,class\na.png,cat\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['label', 'path'\]"):
        read_csv_list(tmp_path / "list.csv")


def test_symlinks_are_followed_inside_the_root_and_refused_outside_it(tmp_path):
    """Every file accounted for: a class folder that is a link is read, a link that
    leaves the data folder is refused as a CSV list refuses it, an empty class folder
    and a broken link are reported."""
    elsewhere = tmp_path / "elsewhere"
    for i in range(4):
        write_image(tmp_path / "store" / f"{i}.png", seed=i)
        write_image(tmp_path / "root" / "cat" / f"{i}.png", seed=10 + i)
    write_image(elsewhere / "far.png", seed=99)
    root = tmp_path / "root"
    (root / "dog").symlink_to(tmp_path / "store")  # a class folder that is a link (outside)
    (root / "owl").symlink_to(root / "cat", target_is_directory=True)  # inside: followed
    (root / "cat" / "far.png").symlink_to(elsewhere / "far.png")
    (root / "cat" / "gone.png").symlink_to(tmp_path / "nothing.png")
    (root / "empty_class").mkdir()
    files, skipped = discover_files(root)
    assert files.groupby("label").size().to_dict() == {"cat": 4, "owl": 4}
    reasons = dict(
        zip(skipped["path"].map(lambda p: Path(p).relative_to(root).as_posix()), skipped["reason"])
    )
    assert reasons["dog"] == "outside the data root"
    assert reasons["cat/far.png"] == "outside the data root"
    assert reasons["owl/far.png"] == "outside the data root"
    assert reasons["cat/gone.png"] == "broken link"
    assert reasons["empty_class"] == "empty folder"
