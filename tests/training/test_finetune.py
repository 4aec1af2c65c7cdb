"""The frozen phase on cached backbone features (issue 23, item 1)."""

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier
from resnet_finetune.training import TrainingCheckpoint, finetune, set_trainable_stages, train
from resnet_finetune.training.engine import TrainingOptions
from resnet_finetune.training.finetune import ViewBatches, make_phases

# The module, not the function of the same name that the package exports.
finetune_module = importlib.import_module("resnet_finetune.training.finetune")
CONFIG = BackboneSpec(architecture="resnet20", width=0.25)
SIZE = 8


def arrays(n, seed):
    """Two classes that differ in brightness."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype("int32")
    images = rng.integers(0, 100, (n, SIZE, SIZE, 3)) + 150 * labels[:, None, None, None]
    return images.astype("uint8"), labels


def batches(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)


def frozen(epochs, **keys):
    return make_phases(
        TrainingOptions(),
        [{"unfreeze_stages": 0, "epochs": epochs, "learning_rate": 0.05, **keys}],
    )


def test_the_head_trained_on_cached_features_equals_the_head_trained_through_the_model():
    train_images, train_labels = arrays(48, seed=0)
    val_images, val_labels = arrays(16, seed=1)
    phases = frozen(epochs=4)

    keras.utils.set_random_seed(0)
    model, history = finetune(
        build_backbone(CONFIG),
        batches(train_images, train_labels),
        batches(val_images, val_labels),
        num_classes=2,
        image_size=(SIZE, SIZE),
        phases=phases,
        seed=7,
    )

    # Through the frozen model, on the same batches in the same order each epoch.
    keras.utils.set_random_seed(0)
    backbone = build_backbone(CONFIG)
    reference = build_classifier(backbone, 2, image_size=(SIZE, SIZE))
    start = reference.get_layer("head").get_weights()
    set_trainable_stages(backbone, 0)
    expected = train(
        reference,
        ViewBatches(train_images[None], train_labels[None], batch_size=16, seed=7),
        ViewBatches(val_images[None], val_labels[None], batch_size=16),
        options=phases[0].options,
    )

    trained = model.get_layer("head").get_weights()
    assert not np.allclose(trained[0], start[0], atol=1e-3)  # the head did learn
    for got, want in zip(trained, reference.get_layer("head").get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4)
    for column in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_allclose(history[column], expected[column], atol=1e-4)


class CountImages(keras.layers.Layer):
    """Counts the images that pass through it."""

    def build(self, input_shape):
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, images):
        self.seen.assign_add(ops.cast(ops.shape(images)[0], "float32"))
        return images


def counting_backbone():
    images = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3)(CountImages(name="count")(images))
    return keras.Model(images, keras.layers.GlobalAveragePooling2D()(x), name="backbone")


@pytest.mark.parametrize(
    ("augmentation", "budget", "seen"),
    [
        (None, None, 32 + 16),  # each image once: no augmentation, one view
        ("flip", None, 2 * 32 + 16),  # two augmented views; validation images once, plain
        # Over the budget (known after one batch): through the model, every epoch.
        (None, 0, 16 + 3 * (32 + 16)),
    ],
)
def test_a_frozen_phase_sends_each_image_through_the_backbone_once_per_view(
    monkeypatch, augmentation, budget, seen
):
    if budget is not None:
        monkeypatch.setattr(finetune_module, "FEATURE_BUDGET_BYTES", budget)
    keras.utils.set_random_seed(0)
    backbone = counting_backbone()
    model, history = finetune(
        backbone,
        batches(*arrays(32, seed=0)),
        batches(*arrays(16, seed=1)),
        num_classes=2,
        image_size=(SIZE, SIZE),
        phases=frozen(epochs=3, feature_views=2),
        head_dropout=0.2,
        augmentation=augmentation and keras.layers.RandomFlip("horizontal", seed=1),
    )
    assert float(backbone.get_layer("count").seen) == seen
    assert history["epoch"].tolist() == [1, 2, 3]


def test_feature_views_must_be_a_positive_integer():
    with pytest.raises(ValueError, match=r"finetune.phases\[0\]: feature_views=0"):
        frozen(epochs=1, feature_views=0)


def test_a_frozen_then_unfrozen_run_has_one_set_of_history_columns():
    keras.utils.set_random_seed(0)
    phases = make_phases(
        TrainingOptions(),
        [
            {"name": "head", "unfreeze_stages": 0, "epochs": 2, "learning_rate": 0.01},
            {"name": "top", "unfreeze_stages": 1, "epochs": 1, "learning_rate": 0.001},
        ],
    )
    _, history = finetune(
        build_backbone(CONFIG),
        batches(*arrays(32, seed=0)),
        batches(*arrays(16, seed=1)),
        num_classes=2,
        image_size=(SIZE, SIZE),
        phases=phases,
    )
    assert history.columns[:3].tolist() == ["phase", "global_epoch", "epoch"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.columns)
    assert history["phase"].tolist() == ["head", "head", "top"]
    assert not history.isna().any().any()  # both routes wrote every column


def test_a_frozen_phase_resumes_only_the_features_of_the_same_backbone(tmp_path):
    train_data, val_data = batches(*arrays(32, seed=0)), batches(*arrays(16, seed=1))

    def head_after(backbone):
        keras.utils.set_random_seed(0)  # the same head start every time
        model, _ = finetune(
            backbone,
            train_data,
            val_data,
            num_classes=2,
            image_size=(SIZE, SIZE),
            phases=frozen(epochs=2),
            checkpoint=TrainingCheckpoint(tmp_path),
        )
        return model.get_layer("head").get_weights()[0]

    keras.utils.set_random_seed(1)
    backbone = counting_backbone()
    first = head_after(backbone)
    np.testing.assert_array_equal(head_after(backbone), first)  # finished: restored
    conv = next(layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D))
    conv.set_weights([weights * 3 for weights in conv.get_weights()])
    # Another backbone gives other features: its head trains afresh, not restored.
    assert not np.allclose(head_after(backbone), first, atol=1e-3)
