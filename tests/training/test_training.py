import keras
import numpy as np
import pytest
import tensorflow as tf

from resnet_finetune.models import build_backbone, build_classifier
from resnet_finetune.training import finetune, make_optimizer, set_trainable_stages, train

CONFIG = {"architecture": "resnet20", "width": 0.25, "bn_momentum": 0.9}


def separable_data(n=64, size=8, seed=0):
    """Two classes that differ in brightness: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype("int32")
    images = rng.integers(0, 100, (n, size, size, 3)) + 150 * labels[:, None, None, None]
    images = images.astype("uint8")
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)


def test_training_lowers_the_loss_and_reports_each_epoch():
    keras.utils.set_random_seed(0)
    model = build_classifier(build_backbone(CONFIG), 2, image_size=(8, 8))
    data = separable_data()
    history = train(model, data, data, epochs=4, learning_rate=0.01, weight_decay=1e-4)
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert {"accuracy", "val_loss", "val_accuracy"} <= set(history.columns)


def test_weight_decay_skips_batchnorm_and_biases():
    model = build_classifier(build_backbone(CONFIG), 2, image_size=(8, 8))
    optimizer = make_optimizer("adamw", learning_rate=0.1, steps=10, weight_decay=0.1)
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert any(path.endswith("kernel") for path in decayed)
    assert not any(path.endswith(("gamma", "beta", "bias")) for path in decayed)


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="optimizer='lamb'"):
        make_optimizer("lamb", learning_rate=0.1, steps=10)


def test_trainable_stages_are_counted_from_the_top_and_batchnorm_stays_frozen():
    backbone = build_backbone(CONFIG)
    assert set_trainable_stages(backbone, 1) == ["conv4"]
    trainable = {la.name for la in backbone.layers if la.trainable and la.weights}
    assert trainable and all(name.startswith("conv4_") and "_bn" not in name for name in trainable)
    assert set_trainable_stages(backbone, 0) == []
    assert not backbone.trainable_weights
    with pytest.raises(ValueError, match="unfreeze_stages=5"):
        set_trainable_stages(backbone, 5)


def test_finetune_freezes_then_unfreezes_and_keeps_batchnorm_statistics():
    keras.utils.set_random_seed(0)
    backbone = build_backbone(CONFIG)
    stem = backbone.get_layer("conv1_conv").get_weights()[0].copy()
    top_conv = backbone.get_layer("conv4_block3_2_conv").get_weights()[0].copy()
    moving_mean = backbone.get_layer("conv4_block3_2_bn").moving_mean.numpy().copy()
    data = separable_data()
    phases = [
        {"name": "frozen", "unfreeze_stages": 0, "epochs": 1, "learning_rate": 0.01},
        {"name": "top", "unfreeze_stages": 1, "epochs": 2, "learning_rate": 0.001},
    ]
    model, history = finetune(backbone, data, data, num_classes=2, image_size=(8, 8), phases=phases)
    assert history["phase"].tolist() == ["frozen", "top", "top"]
    assert history["global_epoch"].tolist() == [1, 2, 3]
    np.testing.assert_array_equal(backbone.get_layer("conv1_conv").get_weights()[0], stem)
    assert not np.allclose(backbone.get_layer("conv4_block3_2_conv").get_weights()[0], top_conv)
    np.testing.assert_array_equal(
        backbone.get_layer("conv4_block3_2_bn").moving_mean.numpy(), moving_mean
    )
    assert model.output_shape == (None, 2)


def test_compare_depths_trains_each_network_with_the_same_budget():
    from resnet_finetune.training.degradation import compare_depths

    data = separable_data()
    history, table = compare_depths(
        ["plain20", "resnet20"],
        data,
        data,
        data,
        num_classes=2,
        image_size=(8, 8),
        seed=0,
        width=0.25,
        epochs=2,
        learning_rate=0.01,
    )
    assert history.groupby("network").size().to_dict() == {"plain20": 2, "resnet20": 2}
    assert (
        table.set_index("network")["parameters"].to_dict()["resnet20"]
        == table.set_index("network")["parameters"].to_dict()["plain20"]
    )  # option A shortcuts add no weight
    with pytest.raises(ValueError, match="'resnet21' is not a known network"):
        compare_depths(
            ["resnet21"],
            data,
            data,
            data,
            num_classes=2,
            image_size=(8, 8),
            seed=0,
            epochs=1,
            learning_rate=0.01,
        )


def test_train_batchnorm_lets_statistics_and_scale_follow_the_new_data():
    keras.utils.set_random_seed(0)
    backbone = build_backbone(CONFIG)
    bn = backbone.get_layer("conv4_block3_2_bn")
    moving_mean, gamma = bn.moving_mean.numpy().copy(), bn.gamma.numpy().copy()
    data = separable_data()
    phases = [{"unfreeze_stages": 1, "epochs": 2, "learning_rate": 0.01, "train_batchnorm": True}]
    finetune(backbone, data, data, num_classes=2, image_size=(8, 8), phases=phases)
    assert bn.trainable
    assert not np.allclose(bn.moving_mean.numpy(), moving_mean)
    assert not np.allclose(bn.gamma.numpy(), gamma)
