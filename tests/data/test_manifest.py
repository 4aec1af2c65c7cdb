import pandas as pd
import pytest

from resnet_finetune.data.embedded import write_digits_folder
from resnet_finetune.data.manifest import SplitSpec, build_manifest, discover_files
from tests.conftest import write_image


def test_hidden_files_and_folders_are_never_classes(class_folder):
    write_image(class_folder / ".ipynb_checkpoints" / "x.png")
    write_image(class_folder / "cat" / ".hidden.png")
    (class_folder / ".DS_Store").write_bytes(b"\0\1")
    files, skipped = discover_files(class_folder)
    assert sorted(files["label"].unique()) == ["cat", "dog", "owl"]
    assert len(files) == 30 and skipped.empty


def test_every_file_is_kept_or_reported_with_a_reason(class_folder):
    (class_folder / "cat" / "empty.jpg").write_bytes(b"")
    (class_folder / "dog" / "notes.txt").write_text("not an image")
    (class_folder / "dog" / "fake.png").write_text("not an image either")
    good = write_image(class_folder / "owl" / "big.jpg", size=(64, 64), fmt="JPEG")
    (class_folder / "owl" / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    write_image(class_folder / "owl" / "tiny.png", size=(3, 3))
    (class_folder / "loose.png").write_bytes(good.read_bytes())
    manifest, report, _ = build_manifest(class_folder, SplitSpec())
    present = [p for p in class_folder.rglob("*") if p.is_file()]
    assert len(manifest) + len(report) == len(present)
    reasons = dict(zip(report["path"].map(lambda p: p.split("/")[-1]), report["reason"]))
    assert reasons["empty.jpg"].startswith("empty file")
    assert "not an image type" in reasons["notes.txt"]
    assert reasons["fake.png"] == "not an image PIL can read"
    assert reasons["truncated.jpg"].startswith("unreadable image")
    assert "smaller than the minimum side" in reasons["tiny.png"]
    assert reasons["loose.png"] == "not inside a class folder"


def test_split_is_stratified_and_reproducible(class_folder):
    spec = SplitSpec(val_fraction=0.2, test_fraction=0.2, seed=7)
    first, _, class_map = build_manifest(class_folder, spec)
    second, _, _ = build_manifest(class_folder, spec)
    pd.testing.assert_frame_equal(first, second)
    counts = first.groupby(["split", "label"]).size().unstack()
    assert (counts.loc["train"] == 6).all() and (counts.loc["test"] == 2).all()
    assert class_map == {"cat": 0, "dog": 1, "owl": 2}


def test_few_labels_per_class_leaves_the_rest_for_test(class_folder):
    manifest, _, _ = build_manifest(class_folder, SplitSpec(train_per_class=3, val_per_class=2))
    counts = manifest.groupby(["split", "label"]).size().unstack()
    assert (counts.loc["train"] == 3).all() and (counts.loc["val"] == 2).all()
    assert (counts.loc["test"] == 5).all()


def test_too_few_images_for_train_per_class_names_the_class(class_folder):
    with pytest.raises(ValueError, match="class 'cat' has 10 distinct images; train_per_class=9"):
        build_manifest(class_folder, SplitSpec(train_per_class=9, val_per_class=1))


def test_exact_duplicates_never_straddle_two_splits(class_folder):
    for i in range(10):
        (class_folder / "cat" / f"copy{i}.png").write_bytes(
            (class_folder / "cat" / "0.png").read_bytes()
        )
    manifest, _, _ = build_manifest(class_folder, SplitSpec(val_fraction=0.3, test_fraction=0.3))
    assert manifest.groupby("sha256")["split"].nunique().max() == 1


def test_declared_splits_are_respected(tmp_path):
    for split in ("train", "validation"):
        for label in ("ants", "bees"):
            for i in range(3):
                write_image(
                    tmp_path / split / label / f"{i}.png", seed=hash((split, label, i)) % 999
                )
    manifest, _, _ = build_manifest(tmp_path, SplitSpec())
    assert manifest.groupby("split").size().to_dict() == {"train": 6, "val": 6}
    assert set(manifest["label"]) == {"ants", "bees"}


def test_one_class_and_missing_folder_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_manifest(tmp_path / "nowhere", SplitSpec())
    write_image(tmp_path / "only" / "a.png")
    with pytest.raises(ValueError, match="has one class"):
        build_manifest(tmp_path, SplitSpec())


def test_embedded_digits_are_written_once_as_png_class_folders(tmp_path):
    root = write_digits_folder(tmp_path / "digits", [5, 6])
    files = sorted(root.rglob("*.png"))
    assert {p.parent.name for p in files} == {"5", "6"}
    assert len(files) == 182 + 181  # scikit-learn's counts of 5s and 6s
    stamp = files[0].stat().st_mtime_ns
    write_digits_folder(tmp_path / "digits", [5, 6])
    assert files[0].stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="digits="):
        write_digits_folder(tmp_path / "bad", [10])
