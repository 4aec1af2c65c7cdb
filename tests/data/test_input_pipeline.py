import numpy as np

from resnet_finetune.data.augment import build_augmenter
from resnet_finetune.data.input_pipeline import apply_augmentation, image_dataset
from resnet_finetune.data.manifest import SplitSpec, build_manifest
from tests.conftest import write_image


def test_batches_are_uint8_at_the_requested_size_in_manifest_order(class_folder):
    write_image(class_folder / "cat" / "grey.png", mode="L", seed=5)
    write_image(class_folder / "dog" / "alpha.png", mode="RGBA", seed=6)
    manifest, _, _ = build_manifest(class_folder, SplitSpec(val_fraction=0.3, test_fraction=0))
    val = image_dataset(manifest, "val", image_size=(8, 10), batch_size=4, shuffle=False, seed=0)
    images, labels = next(iter(val))
    assert images.dtype.name == "uint8" and tuple(images.shape[1:]) == (8, 10, 3)
    expected = manifest.loc[manifest["split"] == "val", "class_index"].to_numpy()
    labels = np.concatenate([batch_labels.numpy() for _, batch_labels in val])
    np.testing.assert_array_equal(labels, expected)


def test_augmentation_changes_pixels_keeps_uint8_and_labels(class_folder):
    manifest, _, _ = build_manifest(class_folder, SplitSpec(val_fraction=0.2, test_fraction=0))
    plain = image_dataset(
        manifest, "train", image_size=(12, 12), batch_size=8, shuffle=False, seed=0
    )
    augmenter = build_augmenter(rotation=0.1, translation=0.2, seed=1)
    augmented = apply_augmentation(plain, augmenter)
    (before, labels), (after, same_labels) = next(iter(plain)), next(iter(augmented))
    assert after.dtype.name == "uint8" and after.shape == before.shape
    np.testing.assert_array_equal(labels, same_labels)
    assert np.abs(after.numpy().astype(int) - before.numpy().astype(int)).mean() > 1
    assert build_augmenter() is None
