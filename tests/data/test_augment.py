"""Augmentation from parameters: each option acts, MixUp/CutMix mix labels, the layers
run in tf.data or inside the model, and a model holding them saves and loads."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from resnet_finetune.data.augment import Augmentation, RandomResizedCrop
from resnet_finetune.data.input_pipeline import apply_augmentation, one_hot_labels
from resnet_finetune.errors import ParameterError
from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier
from resnet_finetune.training import TrainingOptions, train


def _batches(count=16, size=16, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    labels = (np.arange(count) % 4).astype("int32")
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)


@pytest.mark.parametrize(
    "options",
    [
        {"flip": "horizontal_and_vertical"},
        {"rotation": 0.2},
        {"zoom": 0.3},
        {"translation": 0.3},
        {"random_resized_crop": [0.2, 0.6]},
        {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.3},
        {"rand_augment": {"num_ops": 2, "factor": 0.8}},
        {"erasing": 0.99},
    ],
    ids=lambda options: "+".join(options),
)
def test_each_option_changes_pixels_in_tf_data_and_keeps_uint8_and_labels(options):
    plain = _batches()
    augmented = apply_augmentation(plain, Augmentation(**options).image_layers(seed=3))
    (before, labels), (after, same_labels) = next(iter(plain)), next(iter(augmented))
    assert after.dtype == tf.uint8 and after.shape == before.shape
    np.testing.assert_array_equal(labels, same_labels)
    assert np.abs(after.numpy().astype(int) - before.numpy().astype(int)).mean() > 1


def test_random_resized_crop_stays_inside_the_image_and_saves():
    gradient = np.tile(np.arange(32, dtype="float32")[None, :, None] * 8, (4, 32, 1, 3))
    crop = RandomResizedCrop((0.1, 0.3), seed=1)
    out = keras.ops.convert_to_numpy(crop(gradient, training=True))
    # A crop of at most 30% of the area spans far less than the full gradient, and every
    # output value comes from inside the image (no padding).
    assert (out.max(axis=(1, 2, 3)) - out.min(axis=(1, 2, 3)) < 0.8 * 248).all()
    assert out.min() >= 0 and out.max() <= 248
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(crop(gradient, training=False)), gradient
    )
    whole = RandomResizedCrop((1.0, 1.0), aspect=(1.0, 1.0), seed=1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(whole(gradient, training=True)), gradient, atol=1e-3
    )
    clone = RandomResizedCrop.from_config(crop.get_config())
    assert clone.area == (0.1, 0.3) and clone.aspect == crop.aspect


def test_mixup_and_cutmix_mix_one_hot_labels_and_validation_follows():
    mixers = Augmentation(mixup=0.4, cutmix=1.0).mixers(seed=2)
    mixed = apply_augmentation(_batches(64), None, mixers, num_classes=4)
    labels = np.concatenate([batch_labels.numpy() for _, batch_labels in mixed])
    assert labels.shape == (64, 4)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)
    assert ((labels > 0.01).sum(axis=1) == 2).mean() > 0.5  # most rows blend two classes
    val = one_hot_labels(_batches(), 4)
    np.testing.assert_array_equal(next(iter(val))[1].numpy()[:4], np.eye(4))


def test_training_takes_mixed_labels_with_the_matching_loss():
    keras.utils.set_random_seed(0)
    backbone = build_backbone(BackboneSpec(architecture="resnet20", width=0.25))
    model = build_classifier(backbone, 4, image_size=(16, 16))
    mixers = Augmentation(mixup=0.2).mixers(seed=0)
    train_data = apply_augmentation(_batches(32), None, mixers, num_classes=4)
    history = train(
        model,
        train_data,
        one_hot_labels(_batches(16), 4),
        options=TrainingOptions(epochs=1, learning_rate=0.01),
    )
    assert model.loss.name == "categorical_crossentropy"
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.columns)


def test_augmentation_inside_the_model_acts_only_in_training_and_survives_saving(tmp_path):
    augmentation = Augmentation(run_in="model", flip="horizontal", random_resized_crop=[0.5, 1.0])
    assert augmentation.pipeline_layers(seed=0) is None and augmentation.mixers(seed=0) == []
    keras.utils.set_random_seed(0)
    model = build_classifier(
        build_backbone(BackboneSpec(architecture="resnet20", width=0.25)),
        4,
        image_size=(16, 16),
        augmentation=augmentation.model_layers(seed=0),
    )
    images = next(iter(_batches()))[0]
    assert model.get_layer("augmentation") is not None
    np.testing.assert_array_equal(
        model.predict(images, verbose=0), model.predict(images, verbose=0)
    )
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6
    )
    assert Augmentation(flip="horizontal").model_layers(seed=0) is None  # run_in: pipeline


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"run_in": "gpu"}, r"run_in='gpu' is not allowed; allowed: \['pipeline', 'model'\]"),
        ({"flip": "mirror"}, r"flip='mirror' is not allowed"),
        ({"erasing": 1.5}, r"erasing=1.5 must lie in \[0, 1\)"),
        ({"rotation": True}, r"rotation=True must lie in \[0, 1\)"),
        ({"mixup": -1}, r"mixup=-1 must lie in \[0, inf\)"),
        ({"random_resized_crop": [0.8, 0.2]}, r"random_resized_crop=\[0.8, 0.2\]: need"),
        ({"random_resized_crop": [0.5]}, r"random_resized_crop=\[0.5\]: need"),
        (
            {"rand_augment": {"num_ops": 2, "factr": 1}},
            r"rand_augment=.*: give a mapping of "
            r"\['factor', 'interpolation', 'num_ops'\]",
        ),
        ({"rand_augment": {"num_ops": -1}}, r"rand_augment.num_ops=-1 must be an integer >= 1"),
        ({"rand_augment": {"num_ops": "two"}}, r"rand_augment.num_ops='two' must be an integer"),
        ({"rand_augment": 2}, r"rand_augment=2: give a mapping"),
        ({"rand_augment": {"factor": 3}}, r"rand_augment=.*factor"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(options, message):
    with pytest.raises(ParameterError, match=message):
        Augmentation(**options)


def test_the_pipeline_augments_when_its_image_layers_or_mixing_run_there():
    assert Augmentation(flip="horizontal").changes_pipeline_images
    assert not Augmentation(run_in="model", flip="horizontal").changes_pipeline_images
    assert Augmentation(run_in="model", flip="horizontal", mixup=0.2).changes_pipeline_images
    assert not Augmentation(flip="none", rotation=0.0).changes_pipeline_images
    assert Augmentation().image_layers(seed=0) is None
