"""Label conflicts, perceptual hashes, linear-time near-duplicate pairing, corrections."""

import numpy as np
import pandas as pd
import pytest

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.manifest import build_manifest
from resnet_finetune.data.quality import (
    QualitySpec,
    colour_layouts,
    hamming,
    hash_values,
    near_duplicate_table,
    near_pairs,
    perceptual_hash,
    quality_summary,
)
from resnet_finetune.data.split import SplitSpec
from tests.conftest import write_image
from tests.data.natural import altered_copy, natural_image, save


@pytest.fixture
def ingest(tmp_path_factory):
    converted = tmp_path_factory.mktemp("converted")

    def run(root, spec=None, seed=42, **quality):
        return build_manifest(
            root, spec or SplitSpec(), ImageChecks(), converted, QualitySpec(**quality), seed=seed
        )

    return run


def _brute_force(hashes, max_distance):
    distances = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    i, j = np.nonzero(np.triu(distances <= max_distance, k=1))
    return set(zip(i.tolist(), j.tolist()))


@pytest.mark.parametrize("max_distance", [0, 3, 7, 10])
def test_multi_index_pairing_finds_exactly_the_pairs_of_all_pairs_comparison(max_distance):
    rng = np.random.default_rng(max_distance)
    base = rng.integers(0, 2**63, 300, dtype=np.uint64)
    # Near copies: 0-12 random bits flipped, so that some pairs fall on each side.
    flips = [
        np.bitwise_or.reduce(np.uint64(1) << rng.choice(64, k, replace=False).astype(np.uint64))
        if k
        else np.uint64(0)
        for k in rng.integers(0, 13, 300)
    ]
    hashes = np.concatenate([base, base ^ np.array(flips, dtype=np.uint64)])
    i, j = near_pairs(hashes, max_distance)
    expected = _brute_force(hashes, max_distance)
    assert set(zip(i.tolist(), j.tolist())) == expected
    assert len(expected) >= 10  # the test exercises real pairs


def test_pairing_work_grows_linearly_not_quadratically():
    """Candidate pairs (the work) per image stay flat as the number of images grows 8x."""
    rng = np.random.default_rng(0)
    import resnet_finetune.data.quality as quality

    seen = []
    original = np.unique

    def counting_unique(values, *args, **kwargs):
        seen.append(len(values))
        return original(values, *args, **kwargs)

    per_image = []
    for count in (5_000, 40_000):
        seen.clear()
        quality.np.unique = counting_unique
        try:
            near_pairs(rng.integers(0, 2**63, count, dtype=np.uint64), 7)
        finally:
            quality.np.unique = original
        per_image.append(seen[-1] / count)
    assert per_image[1] < 10 * per_image[0] + 5  # quadratic would be 8x; all-pairs: 20,000/image
    assert per_image[1] < 50


def test_altered_copies_are_close_and_other_images_far():
    images = [natural_image(seed, 64) for seed in range(400)]
    hashes = [perceptual_hash(image) for image in images]
    copies = [
        perceptual_hash(altered_copy(image, 1000 + n)) for n, image in enumerate(images[:100])
    ]
    assert len(hashes[0]) == 40
    pairs_of_copies = hamming(hash_values(hashes[:100]), hash_values(copies))
    assert np.median(pairs_of_copies) <= 4
    i, j = near_pairs(hash_values(hashes), 7, colour_layouts(hashes))
    assert len(i) <= 2  # 400 unrelated images: at most 2 false pairs among 79,800


def test_label_conflicts_are_left_out_with_their_reason(tmp_path, ingest):
    for label in ("cat", "dog"):
        for n in range(30):
            save(natural_image(n if label == "cat" else 100 + n), tmp_path / label / f"{n}.png")
    for n in range(20):  # the same photo filed under a second class
        (tmp_path / "dog" / f"copy_{n}.png").write_bytes(
            (tmp_path / "cat" / f"{n}.png").read_bytes()
        )
    manifest, report, _ = ingest(tmp_path, SplitSpec(val_fraction=0.2, test_fraction=0.2))
    conflicts = report[report["reason"] == "label conflict"]
    assert len(conflicts) == 40  # both copies of each of the 20 contents
    assert conflicts["detail"].str.contains("labelled \\['dog'\\]").sum() == 20
    assert not manifest["path"].isin(conflicts["path"]).any()  # never trained on nor scored
    assert len(manifest) == 60 - 20
    table = near_duplicate_table(manifest)
    summary = quality_summary(manifest, report, table, QualitySpec())
    assert summary["label_conflicts"] == 20
    assert summary["label_conflict_files_left_out"] == 40


def test_label_conflicts_can_be_kept_and_stay_in_one_split(tmp_path, ingest):
    for label in ("cat", "dog"):
        for n in range(10):
            save(natural_image(n if label == "cat" else 100 + n), tmp_path / label / f"{n}.png")
    (tmp_path / "dog" / "copy.png").write_bytes((tmp_path / "cat" / "3.png").read_bytes())
    manifest, report, _ = ingest(
        tmp_path, SplitSpec(val_fraction=0.3, test_fraction=0.3), label_conflicts="keep"
    )
    assert len(manifest) == 21 and "label conflict" not in set(report["reason"])
    table = near_duplicate_table(manifest)
    assert sorted(table.loc[table["kind"] == "label conflict", "label"]) == ["cat", "dog"]
    assert manifest.groupby("duplicate_group")["split"].nunique().max() == 1
    summary = quality_summary(manifest, report, table, QualitySpec(label_conflicts="keep"))
    assert summary["label_conflicts"] == 1


def _declared_folder(root, leaked=30, per_class=60):
    """train/ and test/ of 3 classes; ``leaked`` test images are altered copies of train."""
    seed = 0
    for label in ("a", "b", "c"):
        for n in range(per_class):
            save(natural_image(seed, 64), root / "train" / label / f"{n}.png")
            seed += 1
        for n in range(per_class // 3):
            save(natural_image(seed, 64), root / "test" / label / f"{n}.png")
            seed += 1
    copies = []
    for n in range(leaked):
        label = "abc"[n % 3]
        source = root / "train" / label / f"{n}.png"
        from PIL import Image

        copy = altered_copy(Image.open(source).convert("RGB"), 5000 + n)
        copies.append(str(save(copy, root / "test" / label / f"resized_{n}.jpg")))
    return copies


def test_resized_reencoded_copies_across_declared_splits_are_reported_as_leakage(tmp_path, ingest):
    copies = _declared_folder(tmp_path)
    manifest, report, _ = ingest(tmp_path)
    table = near_duplicate_table(manifest)
    leaks = table[table["kind"] == "leakage"]
    found = set(leaks["path"]) & set(copies)
    assert len(found) >= 28
    false = leaks[~leaks["path"].isin(copies)]
    others = len(manifest) - len(copies)
    assert len(false) <= 0.01 * others
    # Both paths, and the training copy is the one it was made from.
    row = leaks[leaks["path"] == copies[0]].iloc[0]
    assert row["other_path"].endswith("train/a/0.png") and row["split"] == "test"
    summary = quality_summary(manifest, report, table, QualitySpec())
    assert summary["test_images_with_near_copy_in_train"] == len(leaks)
    assert set(table["kind"]) == {"leakage"}  # the training side is not listed again


def test_computed_splits_keep_near_copies_together(tmp_path, ingest):
    for offset, label in ((0, "a"), (100, "b")):
        for n in range(40):
            save(natural_image(offset + n, 64), tmp_path / label / f"{n}.png")
    from PIL import Image

    for n in range(10):
        original = Image.open(tmp_path / "a" / f"{n}.png").convert("RGB")
        save(altered_copy(original, n), tmp_path / "a" / f"small_{n}.jpg")
    manifest, _, _ = ingest(tmp_path, SplitSpec(val_fraction=0.3, test_fraction=0.3), seed=3)
    groups = manifest.groupby("duplicate_group")
    assert groups["split"].nunique().max() == 1
    assert (groups.size() == 2).sum() >= 8 and groups.size().max() == 2
    table = near_duplicate_table(manifest)
    assert "leakage" not in set(table["kind"])
    # Off: only exact copies are grouped, each image is its own group here.
    off, _, _ = ingest(tmp_path, near_duplicates=False)
    assert (off["duplicate_group"] == off["sha256"]).all() and (off["phash"] == "").all()


def test_corrections_relabel_and_exclude_and_are_recorded(tmp_path, ingest):
    for label in ("cat", "dog"):
        for n in range(10):
            write_image(tmp_path / "data" / label / f"{n}.png", seed=n + 50 * (label == "dog"))
    corrections = tmp_path / "corrections.csv"
    corrections.write_text(
        "path,action,label\ncat/1.png,relabel,dog\n"
        f"{tmp_path / 'data' / 'dog' / '2.png'},exclude,\n"
    )
    manifest, report, _ = ingest(tmp_path / "data", corrections=str(corrections))
    moved = manifest[manifest["path"].str.endswith("cat/1.png")].iloc[0]
    assert moved["label"] == "dog" and "relabelled from 'cat'" in moved["correction"]
    assert "line 2" in moved["correction"]
    excluded = report[report["reason"] == "excluded by corrections"]
    assert excluded["path"].str.endswith("dog/2.png").tolist() == [True]
    assert len(manifest) == 19 and (manifest["correction"] != "").sum() == 1


@pytest.mark.parametrize(
    "rows, message",
    [
        ("cat/1.png,rename,dog", "line 2: action 'rename' is not allowed"),
        ("cat/1.png,relabel,", "line 2: relabel needs a label"),
        ("cat/99.png,exclude,", "line 2: 'cat/99.png' is no readable image"),
    ],
)
def test_bad_corrections_are_refused_naming_file_and_line(tmp_path, ingest, rows, message):
    for label in ("cat", "dog"):
        for n in range(3):
            write_image(tmp_path / "data" / label / f"{n}.png", seed=n + 50 * (label == "dog"))
    corrections = tmp_path / "fix.csv"
    corrections.write_text(f"path,action,label\n{rows}\n")
    with pytest.raises(ValueError, match=message) as error:
        ingest(tmp_path / "data", corrections=str(corrections))
    assert "fix.csv" in str(error.value)


def test_quality_parameters_are_checked():
    with pytest.raises(ValueError, match="label_conflicts='drop' is not allowed"):
        QualitySpec(label_conflicts="drop")
    with pytest.raises(ValueError, match="max_distance=40 must be 0-11 bits"):
        QualitySpec(max_distance=40)


def test_table_of_an_empty_group_set_has_its_columns():
    manifest = pd.DataFrame(
        {"path": ["a", "b"], "duplicate_group": ["x", "y"], "split": ["train", "test"]}
    )
    assert near_duplicate_table(manifest).empty


def test_images_too_small_for_a_perceptual_hash_are_grouped_by_exact_copies_only(tmp_path, ingest):
    """8x8 digits: look-alikes are not copies; the demo's split stays as it was."""
    from resnet_finetune.data.embedded import write_digits_folder

    root = write_digits_folder(tmp_path / "digits", [5, 6])
    manifest, _, _ = ingest(root, SplitSpec(train_per_class=20, val_per_class=10))
    assert (manifest["phash"] == "").all()
    assert (manifest["duplicate_group"] == manifest["sha256"]).all()
    assert manifest.groupby("split").size().to_dict() == {"test": 303, "train": 40, "val": 20}


def test_bulk_hashes_equal_the_per_image_definition():
    """``perceptual_hashes`` (vectorised, after validation) gives the very hash that the
    per-image definition gives: pHash of the grey 32x32 box-filtered image, colour layout."""
    from PIL import Image

    from resnet_finetune.data.quality import _DCT, hash_thumbnail, perceptual_hashes

    def reference(image):
        grey = image.convert("L").resize((32, 32), Image.Resampling.BOX)
        low = (_DCT @ np.asarray(grey, dtype=np.float64) @ _DCT.T).ravel()
        quarters = image.convert("RGB").resize((2, 2), Image.Resampling.BOX)
        bits = np.packbits(low > np.sort(low)[31:33].mean()).tobytes().hex()
        return bits + quarters.tobytes().hex()

    images = [natural_image(n, size) for n in range(20) for size in (16, 32, 57, 200)]
    images += [image.convert("P") for image in images[:8]] + [images[3].convert("L")]
    thumbnails = [hash_thumbnail(image) for image in images]
    assert perceptual_hashes([*thumbnails, b""]) == [*map(reference, images), ""]


def _two_classes(root, count=4):
    for label in ("green", "red"):
        for n in range(count):
            write_image(root / label / f"img_{n:03}.png", seed=n + 50 * (label == "red"))


@pytest.mark.parametrize(
    "rows, message",
    [
        ("green/img_001.png,relabel,dgo", r"line 2: relabel to 'dgo', a label no class has; "),
        ('green/img_001.png,relabel,"=HYPERLINK(""x"")"', r"known classes: \['green', 'red'\]"),
        ("green/img_001.png,relabel,red\ngreen/img_001.png,exclude,", r"lines 2 and 3 both"),
        ("red/img_002.png,relabel,green\nred/img_002.png,relabel,red", r"lines 2 and 3 both"),
        ("green/img_001.png,new_class,blue", r"line\(s\) \[2\] leave class 'blue' with one"),
    ],
)
def test_corrections_refuse_unknown_labels_contradictions_and_one_image_classes(
    tmp_path, ingest, rows, message
):
    """Issue 21 case 3: a relabel to a label no class has, two rows for one image and a
    class of one image made by a correction are refused, naming the line(s)."""
    _two_classes(tmp_path / "data")
    corrections = tmp_path / "fix.csv"
    corrections.write_text(f"path,action,label\n{rows}\n")
    with pytest.raises(ValueError, match=message):
        ingest(tmp_path / "data", corrections=str(corrections))


def test_corrections_name_the_listed_path_and_keep_the_original_label(tmp_path, ingest):
    """Issue 21 case 3: excluding ``green/img_000.png`` excludes that row, not the link
    ``red/x.png`` to it (which stays, as the report says); new_class makes a class; the
    provenance names the label the image had."""
    root = tmp_path / "data"
    _two_classes(root, count=7)
    (root / "red" / "x.png").symlink_to("../green/img_000.png")
    corrections = tmp_path / "fix.csv"
    corrections.write_text(
        "path,action,label\ngreen/img_000.png,exclude,\n"
        "red/img_001.png,new_class,blue\nred/img_002.png,new_class,blue\n"
        "red/img_003.png,new_class,blue\n"
    )
    no_split = SplitSpec(val_fraction=0, test_fraction=0)
    manifest, report, _ = ingest(root, no_split, corrections=str(corrections))
    paths = set(manifest["path"])
    assert str(root / "green" / "img_000.png") not in paths
    assert str(root / "red" / "x.png") in paths
    excluded = report[report["reason"] == "excluded by corrections"]
    assert excluded["path"].tolist() == [str(root / "green" / "img_000.png")]
    assert "red/x.png" in excluded["detail"].item() and "stays" in excluded["detail"].item()
    blue = manifest[manifest["label"] == "blue"]
    assert len(blue) == 3 and blue["correction"].str.startswith("relabelled from 'red'").all()
