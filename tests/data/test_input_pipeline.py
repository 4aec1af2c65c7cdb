from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from resnet_finetune.data.augment import Augmentation
from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.input_pipeline import _decoding_plan, apply_augmentation, image_dataset
from resnet_finetune.data.manifest import build_manifest
from resnet_finetune.data.split import SplitSpec
from tests.conftest import write_image


def test_batches_are_uint8_at_the_requested_size_in_manifest_order(class_folder):
    write_image(class_folder / "cat" / "grey.png", mode="L", seed=5)
    write_image(class_folder / "dog" / "alpha.png", mode="RGBA", seed=6)
    manifest, _, _ = build_manifest(
        class_folder,
        SplitSpec(val_fraction=0.3, test_fraction=0),
        ImageChecks(),
        class_folder.parent / "converted",
    )
    val = image_dataset(manifest, "val", image_size=(8, 10), batch_size=4, shuffle=False, seed=0)
    images, labels = next(iter(val))
    assert images.dtype.name == "uint8" and tuple(images.shape[1:]) == (8, 10, 3)
    expected = manifest.loc[manifest["split"] == "val", "class_index"].to_numpy()
    labels = np.concatenate([batch_labels.numpy() for _, batch_labels in val])
    np.testing.assert_array_equal(labels, expected)


def test_augmentation_changes_pixels_keeps_uint8_and_labels(class_folder):
    manifest, _, _ = build_manifest(
        class_folder,
        SplitSpec(val_fraction=0.2, test_fraction=0),
        ImageChecks(),
        class_folder.parent / "converted",
    )
    plain = image_dataset(
        manifest, "train", image_size=(12, 12), batch_size=8, shuffle=False, seed=0
    )
    augmenter = Augmentation(rotation=0.1, translation=0.2).image_layers(seed=1)
    augmented = apply_augmentation(plain, augmenter)
    (before, labels), (after, same_labels) = next(iter(plain)), next(iter(augmented))
    assert after.dtype.name == "uint8" and after.shape == before.shape
    np.testing.assert_array_equal(labels, same_labels)
    assert np.abs(after.numpy().astype(int) - before.numpy().astype(int)).mean() > 1
    assert Augmentation().image_layers(seed=0) is None


def _one_image_manifest(path, width, height):
    return pd.DataFrame(
        {
            "read_path": [str(path)],
            "sha256": ["x"],
            "height": [height],
            "width": [width],
            "class_index": [0],
            "split": ["train"],
            "format": [Image.open(path).format],
        }
    )


def _first_image(manifest, size, **options):
    dataset = image_dataset(
        manifest, "train", image_size=size, batch_size=1, shuffle=False, seed=0, **options
    )
    return next(iter(dataset))[0][0].numpy()


@pytest.fixture
def wide_picture(tmp_path):
    """40x20: a red quarter on the left, green in the middle, blue quarter on the right."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10], pixels[:, 10:30], pixels[:, 30:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    return _one_image_manifest(tmp_path / "wide.png", 40, 20)


def test_resize_modes_squash_crop_and_pad(wide_picture):
    squashed = _first_image(wide_picture, (10, 10), resize="squash")
    np.testing.assert_array_equal(squashed[:, 0], [[255, 0, 0]] * 10)
    np.testing.assert_array_equal(squashed[:, -1], [[0, 0, 255]] * 10)

    cropped = _first_image(wide_picture, (10, 10), resize="centre_crop")  # the middle 20x20
    np.testing.assert_array_equal(cropped, np.full((10, 10, 3), (0, 255, 0)))

    padded = _first_image(wide_picture, (10, 10), resize="pad")  # 10x5 in the middle rows
    np.testing.assert_array_equal(padded[:2], 0)
    np.testing.assert_array_equal(padded[-3:], 0)
    np.testing.assert_array_equal(padded[2:7, 5], [[0, 255, 0]] * 5)


def test_large_jpeg_decoded_small_matches_a_full_size_area_resize(tmp_path):
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((64, 64, 1))).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "big.jpg", quality=95)
    manifest = _one_image_manifest(tmp_path / "big.jpg", 512, 512)
    small = _first_image(manifest, (16, 16))  # libjpeg decodes it at 1/8: 64x64
    reference = Image.open(tmp_path / "big.jpg").resize((16, 16), Image.Resampling.BOX)
    assert np.abs(small.astype(int) - np.asarray(reference, int)).mean() < 2


def test_unknown_resize_or_cache_mode_is_refused(wide_picture):
    with pytest.raises(ValueError, match=r"resize='stretch' is not allowed"):
        _first_image(wide_picture, (8, 8), resize="stretch")
    with pytest.raises(ValueError, match=r"cache='ram' is not allowed"):
        _first_image(wide_picture, (8, 8), cache="ram")


def test_disk_cache_is_reused_by_a_second_run_and_a_killed_one_starts_over(class_folder, tmp_path):
    manifest, _, _ = build_manifest(
        class_folder, SplitSpec(val_fraction=0.3, test_fraction=0), ImageChecks(), tmp_path / "c"
    )
    options = dict(image_size=(8, 8), batch_size=4, shuffle=False, seed=0, cache="disk")
    first = np.concatenate(
        [b.numpy() for b, _ in image_dataset(manifest, "train", cache_dir=tmp_path, **options)]
    )
    (index,) = tmp_path.glob("*.index")
    for path in manifest["read_path"]:  # a second run must not need the images any more
        Path(path).rename(f"{path}.moved")
    second = np.concatenate(
        [b.numpy() for b, _ in image_dataset(manifest, "train", cache_dir=tmp_path, **options)]
    )
    np.testing.assert_array_equal(first, second)
    for path in manifest["read_path"]:
        Path(f"{path}.moved").rename(path)

    # What SIGKILL leaves of a cache being written: a lock and a partial shard, no index.
    index.unlink()
    stem = index.with_suffix("")
    Path(f"{stem}_0.lockfile").write_text("")
    Path(f"{stem}_0.data-00000-of-00001.tempstate1").write_text("")
    third = np.concatenate(
        [b.numpy() for b, _ in image_dataset(manifest, "train", cache_dir=tmp_path, **options)]
    )
    np.testing.assert_array_equal(first, third)
    assert index.exists() and not list(tmp_path.glob("*lockfile"))


def test_shuffled_epochs_differ_and_hold_every_image_once(class_folder, tmp_path):
    manifest, _, _ = build_manifest(
        class_folder, SplitSpec(val_fraction=0, test_fraction=0), ImageChecks(), tmp_path / "c"
    )
    for cache in ("none", "memory"):
        dataset = image_dataset(
            manifest, "train", image_size=(8, 8), batch_size=30, shuffle=True, seed=1, cache=cache
        )
        ((_, first),), ((_, again),) = list(dataset), list(dataset)
        dataset.training_epoch.assign(1)
        ((_, second),) = list(dataset)
        assert sorted(first.numpy()) == sorted(manifest["class_index"])
        assert sorted(second.numpy()) == sorted(manifest["class_index"])
        assert first.numpy().tolist() != second.numpy().tolist()
        # The order is the epoch's, not the number of reads before.
        assert first.numpy().tolist() == again.numpy().tolist()


def test_disk_cache_shuffles_within_a_bounded_buffer(class_folder, tmp_path):
    manifest, _, _ = build_manifest(
        class_folder, SplitSpec(val_fraction=0, test_fraction=0), ImageChecks(), tmp_path / "c"
    )
    options = dict(image_size=(8, 8), batch_size=1, seed=0, cache="disk", cache_dir=tmp_path)
    ordered = [
        b.numpy().tobytes() for b, _ in image_dataset(manifest, "train", shuffle=False, **options)
    ]
    for seed in range(5):
        options["seed"] = seed
        shuffled = image_dataset(manifest, "train", shuffle=True, shuffle_buffer=2, **options)
        first = next(iter(shuffled))[0].numpy().tobytes()
        # With two images held, the first out is one of the first two of the cache.
        assert ordered.index(first) in (0, 1)


def test_decoding_plan_decodes_large_jpegs_small_and_averages_big_reductions():
    rows = pd.DataFrame(
        {
            "height": [512, 512, 40, 100],
            "width": [512, 512, 40, 100],
            "format": ["JPEG", "PNG", "JPEG", "MPO"],
        }
    )
    branch, resize_to = _decoding_plan(rows, (16, 16), "squash")
    decoder, area = branch // 2, branch % 2
    # 512 -> 1/8 scale (64 px), then area; PNG: generic decoder, area from 512;
    # 40 -> 1/2 scale (20 px), bilinear; MPO (camera JPEG) 100 -> 1/4 (25 px), bilinear.
    assert decoder.tolist() == [3, 4, 1, 2] and area.tolist() == [1, 1, 0, 0]
    assert resize_to.tolist() == [[16, 16]] * 4
    _, padded_to = _decoding_plan(rows.iloc[:1].assign(width=256), (16, 16), "pad")
    assert padded_to.tolist() == [[16, 8]]
