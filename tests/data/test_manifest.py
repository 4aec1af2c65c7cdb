import fcntl
import hashlib
import io
import os
import pty
import select
import struct
import sys
import termios

import pandas as pd
import pytest

from resnet_finetune.data.class_weights import balanced_class_weights
from resnet_finetune.data.embedded import write_digits_folder
from resnet_finetune.data.identity import dataset_sha256
from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.listing import discover_files
from resnet_finetune.data.manifest import build_manifest
from resnet_finetune.data.split import SplitSpec
from resnet_finetune.data.validation import validate_files
from tests.conftest import write_image


@pytest.fixture
def ingest(tmp_path_factory):
    """``build_manifest`` with default checks and a converted-image folder of its own."""
    converted = tmp_path_factory.mktemp("converted")

    def run(root, spec=None, seed=42):
        return build_manifest(root, spec or SplitSpec(), ImageChecks(), converted, seed=seed)

    return run


def test_hidden_files_and_folders_are_never_classes(class_folder):
    write_image(class_folder / ".ipynb_checkpoints" / "x.png")
    write_image(class_folder / "cat" / ".hidden.png")
    (class_folder / ".DS_Store").write_bytes(b"\0\1")
    files, skipped = discover_files(class_folder)
    assert sorted(files["label"].unique()) == ["cat", "dog", "owl"]
    assert len(files) == 30
    assert skipped["reason"].tolist() == ["hidden"] * 3


def test_split_is_stratified_and_reproducible(class_folder, ingest):
    spec = SplitSpec(val_fraction=0.2, test_fraction=0.2)
    first, _, class_map = ingest(class_folder, spec, seed=7)
    second, _, _ = ingest(class_folder, spec, seed=7)
    pd.testing.assert_frame_equal(first, second)
    counts = first.groupby(["split", "label"]).size().unstack()
    assert (counts.loc["train"] == 6).all() and (counts.loc["test"] == 2).all()
    assert class_map == {"cat": 0, "dog": 1, "owl": 2}


def test_few_labels_per_class_leaves_the_rest_for_test(class_folder, ingest):
    manifest, _, _ = ingest(class_folder, SplitSpec(train_per_class=3, val_per_class=2))
    counts = manifest.groupby(["split", "label"]).size().unstack()
    assert (counts.loc["train"] == 3).all() and (counts.loc["val"] == 2).all()
    assert (counts.loc["test"] == 5).all()


def test_too_few_images_for_train_per_class_names_the_class(class_folder, ingest):
    with pytest.raises(ValueError, match="class 'cat' has 10 distinct images; train_per_class=9"):
        ingest(class_folder, SplitSpec(train_per_class=9, val_per_class=1))


def test_exact_duplicates_never_straddle_two_splits(class_folder, ingest):
    for i in range(10):
        (class_folder / "cat" / f"copy{i}.png").write_bytes(
            (class_folder / "cat" / "0.png").read_bytes()
        )
    manifest, _, _ = ingest(class_folder, SplitSpec(val_fraction=0.3, test_fraction=0.3))
    assert manifest.groupby("sha256")["split"].nunique().max() == 1


def test_declared_splits_are_respected(tmp_path, ingest):
    for s, split in enumerate(("train", "validation")):
        for c, label in enumerate(("ants", "bees")):
            for i in range(3):
                # Seeds fixed (not hash(), which changes per process): distinct images.
                write_image(tmp_path / split / label / f"{i}.png", seed=500 * s + 100 * c + i)
    manifest, _, _ = ingest(tmp_path, SplitSpec())
    # Without a declared test split, the declared validation folder is the test split and
    # the validation split that chooses the best epoch is carved from train/.
    assert manifest.groupby("split").size().to_dict() == {"train": 4, "val": 2, "test": 6}
    assert set(manifest["label"]) == {"ants", "bees"}
    test = manifest[manifest["split"] == "test"]
    assert test["path"].str.contains("/validation/").all()
    assert (manifest.loc[manifest["split"] == "val", "path"].str.contains("/train/")).all()
    assert set(manifest["split_origin"]) == {
        "declared train",
        "carved from declared train",
        "declared val, used as test",
    }


def test_declared_train_and_test_get_a_validation_split_from_train(tmp_path, ingest):
    for s, (split, count) in enumerate((("train", 10), ("test", 2))):
        for c, label in enumerate(("ants", "bees")):
            for i in range(count):
                # Seeds fixed (not hash(), which changes per process): distinct images.
                write_image(tmp_path / split / label / f"{i}.png", seed=500 * s + 100 * c + i)
    manifest, _, _ = ingest(tmp_path, SplitSpec(val_fraction=0.2))
    assert manifest.groupby("split").size().to_dict() == {"train": 16, "val": 4, "test": 4}
    with pytest.raises(ValueError, match="no train split"):
        for seed, label in enumerate(("ants", "bees")):
            write_image(tmp_path / "only_val" / "val" / label / "0.png", seed=seed)
        ingest(tmp_path / "only_val", SplitSpec())


def test_one_class_and_missing_folder_are_refused(tmp_path, ingest):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ingest(tmp_path / "nowhere", SplitSpec())
    write_image(tmp_path / "only" / "a.png")
    with pytest.raises(ValueError, match="has one class"):
        ingest(tmp_path, SplitSpec())


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


def test_balanced_class_weights_follow_the_training_split(class_folder, ingest):
    for i in range(10, 40):
        write_image(class_folder / "cat" / f"{i}.png", seed=1000 + i)
    manifest, _, _ = ingest(class_folder, SplitSpec(val_fraction=0.2, test_fraction=0))
    train = manifest[manifest["split"] == "train"]["label"].value_counts()
    weights = balanced_class_weights(manifest)
    assert train.to_dict() == {"cat": 32, "dog": 8, "owl": 8}
    assert weights == pytest.approx({"cat": 48 / 96, "dog": 48 / 24, "owl": 48 / 24})


def test_dataset_hash_follows_contents_labels_and_splits_not_order_or_paths(class_folder, ingest):
    manifest, _, _ = ingest(class_folder)
    digest = dataset_sha256(manifest)
    assert len(digest) == 64
    moved = manifest.assign(path="/elsewhere/" + manifest["path"].str.rsplit("/", n=1).str[-1])
    assert dataset_sha256(moved.iloc[::-1]) == digest
    relabelled = manifest.copy()
    relabelled.loc[0, "label"] = "owl" if relabelled.loc[0, "label"] != "owl" else "cat"
    resplit = manifest.copy()
    resplit.loc[0, "split"] = "test" if resplit.loc[0, "split"] != "test" else "train"
    assert len({digest, dataset_sha256(relabelled), dataset_sha256(resplit)}) == 3
    assert dataset_sha256(manifest.iloc[1:]) != digest


def _validate_writing_to(stream, monkeypatch, class_folder, tmp_path) -> None:
    monkeypatch.setattr(sys, "stderr", stream)
    files, _ = discover_files(class_folder)
    validate_files(files, ImageChecks(), tmp_path / "converted")
    stream.flush()


def _written_to_a_terminal(*args) -> str:
    leader, follower = pty.openpty()
    # A terminal of 80 columns: a fresh pseudo-terminal has none, and tqdm fits the bar to it.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    with open(follower, "w") as terminal:
        _validate_writing_to(terminal, *args)
        written = b""
        while select.select([leader], [], [], 0)[0]:
            written += os.read(leader, 65536)
    os.close(leader)
    return written.decode()


def test_validation_shows_a_progress_bar_only_at_a_terminal_outside_ci(
    monkeypatch, class_folder, tmp_path
):
    args = monkeypatch, class_folder, tmp_path
    monkeypatch.delenv("CI", raising=False)
    shown = _written_to_a_terminal(*args)
    assert "validating images" in shown and "100%" in shown and "30/30" in shown
    log = io.StringIO()  # not a terminal: a log file, a pipe
    _validate_writing_to(log, *args)
    assert log.getvalue() == ""
    monkeypatch.setenv("CI", "true")
    assert _written_to_a_terminal(*args) == ""


def test_a_second_validation_reads_only_new_or_changed_files(class_folder, tmp_path, monkeypatch):
    """The cache under intermediate_dir: unchanged files (path, size, mtime) are not read
    again; new and changed ones are; every file is still accounted for."""
    from resnet_finetune.data import validation
    from resnet_finetune.data.listing import list_images
    from resnet_finetune.data.validation import validate_files, validated_cache

    (class_folder / "cat" / "broken.png").write_bytes(b"not an image")
    cache = validated_cache(tmp_path / "intermediate", class_folder)
    files, _ = list_images(class_folder)
    first, first_report = validate_files(files, ImageChecks(), tmp_path / "conv", True, cache)
    assert cache.is_file() and len(first) == 30 and len(first_report) == 1

    read = []
    inspect = validation.inspect_image
    monkeypatch.setattr(
        validation, "inspect_image", lambda path, *a: read.append(path) or inspect(path, *a)
    )
    write_image(class_folder / "dog" / "new.png", seed=999)
    changed = class_folder / "owl" / "0.png"
    write_image(changed, size=(14, 14), seed=998)
    files, _ = list_images(class_folder)
    second, second_report = validate_files(files, ImageChecks(), tmp_path / "conv", True, cache)
    assert sorted(read) == sorted([str(class_folder / "dog" / "new.png"), str(changed)])
    assert len(second) == 31 and len(second_report) == 1
    assert second.loc[second["path"] == str(changed), "width"].item() == 14
    assert not list(cache.parent.glob(".partial-*"))


def test_a_file_rewritten_with_its_size_and_mtime_kept_is_hashed_again(class_folder, tmp_path):
    """Issue 21 case 10: other bytes of the same size, the mtime set back with os.utime:
    the validation cache notices (inode change time) and the new SHA-256 is used."""
    from resnet_finetune.data.listing import list_images
    from resnet_finetune.data.validation import validated_cache

    changed = write_image(class_folder / "cat" / "same.bmp", seed=1, fmt="BMP")
    cache = validated_cache(tmp_path / "intermediate", class_folder)
    first, _ = validate_files(
        list_images(class_folder)[0], ImageChecks(), tmp_path / "c", True, cache
    )
    before = os.stat(changed)
    write_image(changed, seed=2, fmt="BMP")
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(changed)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    second, _ = validate_files(
        list_images(class_folder)[0], ImageChecks(), tmp_path / "c", True, cache
    )

    def sha(table):
        return table.loc[table["path"] == str(changed), "sha256"].item()

    assert sha(second) != sha(first)
    assert sha(second) == hashlib.sha256(changed.read_bytes()).hexdigest()


def test_folder_links_that_loop_are_skipped_with_one_warning(tmp_path, caplog):
    """Issue 21 case 9: ``a/to_b -> ../b`` and ``b/to_a -> ../a`` (and a link to itself)
    end the listing, each loop reported once, not in "Too many levels of symbolic links"."""
    from resnet_finetune.data.listing import discover_unlabelled

    for label in ("a", "b"):
        write_image(tmp_path / "root" / label / "0.png", seed=ord(label))
    root = tmp_path / "root"
    (root / "a" / "to_b").symlink_to("../b")
    (root / "b" / "to_a").symlink_to("../a")
    (root / "a" / "self.png").symlink_to("self.png")
    with caplog.at_level("WARNING"):
        files, skipped = discover_files(root)
    loops = skipped.loc[skipped["reason"] == "link loop", "path"]
    assert sorted(loops) == sorted(
        str(root / p) for p in ("a/to_b/to_a", "b/to_a/to_b", "a/self.png", "b/to_a/self.png")
    )
    assert sorted(files["path"]) == sorted(
        str(root / p) for p in ("a/0.png", "a/to_b/0.png", "b/0.png", "b/to_a/0.png")
    )
    warnings = [r.getMessage() for r in caplog.records if "loop back" in r.getMessage()]
    assert len(warnings) == 1 and "a/to_b/to_a" in warnings[0]
    predicted, _ = discover_unlabelled(root)  # prediction lists folders the same way
    assert len(predicted) == 4


def test_a_deleted_converted_copy_is_made_again_from_its_source(tmp_path):
    """Issue 21 case 9: ``data/02_intermediate/converted`` deleted after ingestion: the
    RGB copy is made again, the same pixels, from a source whose SHA-256 still matches;
    a changed source is refused by name rather than read as other pixels."""
    import shutil

    import numpy as np
    from PIL import Image

    from resnet_finetune.data.images import remake_converted

    source = write_image(tmp_path / "data" / "cat" / "0.png", mode="RGBA", seed=3)
    files = pd.DataFrame({"path": [str(source)], "label": ["cat"], "split": [None]})
    rows, _ = validate_files(files, ImageChecks(background=(0, 0, 0)), tmp_path / "converted")
    copy = rows["read_path"].item()
    assert copy != str(source) and copy.endswith("-000000.png")
    pixels = np.asarray(Image.open(copy))
    shutil.rmtree(tmp_path / "converted")
    remake_converted(rows)
    assert np.array_equal(np.asarray(Image.open(copy)), pixels)

    os.remove(copy)
    write_image(source, mode="RGBA", seed=4)
    with pytest.raises(ValueError, match=r"converted copy .* cannot be made again from .*0\.png"):
        remake_converted(rows)
    os.remove(source)
    with pytest.raises(FileNotFoundError, match="ingest the data again"):
        remake_converted(rows)
