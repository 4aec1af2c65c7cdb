import keras
import numpy as np
import pytest
import tensorflow as tf

from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier
from resnet_finetune.training import (
    Compute,
    finetune,
    make_optimizer,
    set_trainable_stages,
    train,
)
from resnet_finetune.training.engine import TrainingOptions, make_loss
from resnet_finetune.training.finetune import baseline_options, make_phases
from resnet_finetune.training.schedules import make_schedule

CONFIG = BackboneSpec(architecture="resnet20", width=0.25)


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
    history = train(
        model, data, data, options=TrainingOptions(epochs=4, learning_rate=0.01, weight_decay=1e-4)
    )
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
    model, history = finetune(
        backbone,
        data,
        data,
        num_classes=2,
        image_size=(8, 8),
        phases=make_phases(TrainingOptions(weight_decay=1e-4), phases),
    )
    assert history["phase"].tolist() == ["frozen", "top", "top"]
    assert history["global_epoch"].tolist() == [1, 2, 3]
    np.testing.assert_array_equal(backbone.get_layer("conv1_conv").get_weights()[0], stem)
    assert not np.allclose(backbone.get_layer("conv4_block3_2_conv").get_weights()[0], top_conv)
    np.testing.assert_array_equal(
        backbone.get_layer("conv4_block3_2_bn").moving_mean.numpy(), moving_mean
    )
    assert model.output_shape == (None, 2)


def test_phases_and_baseline_override_the_shared_options():
    shared = TrainingOptions(weight_decay=0.05, label_smoothing=0.1)
    phases = make_phases(
        shared,
        [
            {"name": "head", "epochs": 2, "learning_rate": 0.01},
            {"unfreeze_stages": "all", "epochs": 3, "learning_rate": 0.001, "weight_decay": 0},
        ],
    )
    assert [p.options.weight_decay for p in phases] == [0.05, 0]
    assert [p.options.label_smoothing for p in phases] == [0.1, 0.1]
    assert (phases[0].name, phases[1].unfreeze_stages) == ("head", "all")
    baseline = baseline_options(shared, phases, {"learning_rate": 0.003})
    assert (baseline.epochs, baseline.learning_rate, baseline.weight_decay) == (5, 0.003, 0.05)
    with pytest.raises(ValueError, match=r"finetune.phases\[1\]: unknown key\(s\) \['epoch'\]"):
        make_phases(shared, [{"epochs": 1}, {"epoch": 1}])
    with pytest.raises(ValueError, match=r"finetune.phases\[0\]: unfreeze_stages=-1"):
        make_phases(shared, [{"epochs": 1, "unfreeze_stages": -1}])
    # Its own epochs and network (the from-scratch recipe for a pretrained start).
    small = {"epochs": 4, "architecture": "resnet18", "width": 0.5, "image_size": [32, 32]}
    assert baseline_options(shared, phases, small).epochs == 4
    with pytest.raises(ValueError, match="baseline: epochs=0"):
        baseline_options(shared, phases, {"epochs": 0})


def test_compare_depths_trains_each_network_with_the_same_budget():
    from resnet_finetune.training.degradation import compare_depths

    data = separable_data()
    history, table = compare_depths(
        ["plain20", "resnet20"],
        data,
        data,
        data,
        options=TrainingOptions(epochs=2, learning_rate=0.01),
        num_classes=2,
        image_size=(8, 8),
        seed=0,
        width=0.25,
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
            options=TrainingOptions(epochs=1, learning_rate=0.01),
            num_classes=2,
            image_size=(8, 8),
            seed=0,
        )


def test_train_batchnorm_lets_statistics_and_scale_follow_the_new_data():
    keras.utils.set_random_seed(0)
    backbone = build_backbone(CONFIG)
    bn = backbone.get_layer("conv4_block3_2_bn")
    moving_mean, gamma = bn.moving_mean.numpy().copy(), bn.gamma.numpy().copy()
    data = separable_data()
    phases = [{"unfreeze_stages": 1, "epochs": 2, "learning_rate": 0.01, "train_batchnorm": True}]
    phases = make_phases(TrainingOptions(), phases)
    finetune(backbone, data, data, num_classes=2, image_size=(8, 8), phases=phases)
    assert bn.trainable
    assert not np.allclose(bn.moving_mean.numpy(), moving_mean)
    assert not np.allclose(bn.gamma.numpy(), gamma)


def test_one_cycle_rises_to_the_peak_then_anneals_far_below_the_start():
    schedule = make_schedule("one_cycle", learning_rate=0.4, steps=100, warmup_steps=20)
    rates = [float(schedule(step)) for step in range(101)]
    assert rates[0] == pytest.approx(0.4 / 25)
    assert max(rates) == pytest.approx(0.4) and rates.index(max(rates)) == 20
    assert rates[100] == pytest.approx(0.4 / 25 / 1e4, rel=1e-3)
    assert all(a <= b for a, b in zip(rates[:20], rates[1:21]))
    assert all(a >= b for a, b in zip(rates[20:], rates[21:]))
    # Without warm-up epochs a quarter of the steps rise, as fastai's fit_one_cycle.
    default = make_schedule("one_cycle", learning_rate=1.0, steps=100)
    assert float(default(25)) == pytest.approx(1.0)


def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    schedule = make_schedule("cosine", learning_rate=1.0, steps=100, warmup_steps=10)
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(5)) == pytest.approx(0.55)
    assert float(schedule(10)) == pytest.approx(1.0)
    assert float(schedule(55)) == pytest.approx(0.5)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="schedule='step' is not allowed"):
        make_schedule("step", learning_rate=1.0, steps=10)


def test_label_smoothing_for_class_indices_matches_keras_on_one_hot_rows():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    labels = np.array([0, 1])
    one_hot = np.eye(3, dtype="float32")[labels]
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(one_hot, probabilities)
    ours = make_loss(1, label_smoothing=0.1)(labels, probabilities)
    assert float(ours) == pytest.approx(float(expected), rel=1e-6)
    plain = keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)
    assert float(ours) > float(plain)  # smoothing penalises confident predictions
    assert float(make_loss(1)(labels, probabilities)) == pytest.approx(float(plain))


def test_gradient_clipping_bounds_the_global_norm_of_a_step():
    variables = [keras.Variable(np.zeros(1, "float32")), keras.Variable(np.zeros(1, "float32"))]
    optimizer = make_optimizer(
        "sgd", learning_rate=1.0, steps=10, momentum=0.0, gradient_clip_norm=2.0
    )
    gradients = [np.full(1, 30.0, "float32"), np.full(1, 40.0, "float32")]
    optimizer.apply_gradients(zip(gradients, variables))
    step = np.concatenate([v.numpy() for v in variables])
    assert np.linalg.norm(step) == pytest.approx(2.0, rel=1e-5)
    # The clipped step is the gradient (norm 50) scaled down to norm 2.
    np.testing.assert_allclose(step, [-30 * 2 / 50, -40 * 2 / 50], rtol=1e-5)


def test_weight_average_holds_the_weights_near_their_start():
    data = separable_data()

    def distance_moved(**options):
        # The average lives in the optimizer: a small network shows it as well as a ResNet.
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((8, 8, 3)),
                keras.layers.Rescaling(1 / 255),
                keras.layers.Conv2D(8, 3, activation="relu"),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(2, activation="softmax"),
            ]
        )
        start = [v.numpy().copy() for v in model.trainable_weights]
        train(model, data, options=TrainingOptions(epochs=2, learning_rate=0.05, **options))
        end = [v.numpy() for v in model.trainable_weights]
        return np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(end, start, strict=True)))

    # Keras starts the average at the weights after the first step; over the 7 steps
    # after it, momentum 0.999 hardly moves it, while the raw weights travel on.
    plain = distance_moved()
    assert distance_moved(ema_momentum=0.999) < 0.5 * plain
    assert distance_moved(ema_momentum=0.0) == pytest.approx(plain, rel=1e-4)
    with pytest.raises(ValueError, match="cannot be combined"):
        train(
            keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten()]),
            data,
            data,
            options=TrainingOptions(
                epochs=1, learning_rate=0.01, ema_momentum=0.99, early_stopping_patience=2
            ),
        )


class _Recorder(keras.callbacks.Callback):
    """What the model being fitted computes in, and with which optimizer."""

    def on_train_begin(self, logs=None):
        backbone = self.model.get_layer("backbone")
        self.conv_dtype = backbone.get_layer("conv1_conv").compute_dtype
        self.head_dtype = self.model.get_layer("head").compute_dtype
        self.optimizer = type(self.model.optimizer).__name__


def test_mixed_precision_trains_a_copy_and_leaves_float32_weights():
    keras.utils.set_random_seed(0)
    model = build_classifier(build_backbone(CONFIG), 2, image_size=(8, 8))
    start = [w.copy() for w in model.get_weights()]
    recorder = _Recorder()
    data = separable_data()
    history = train(
        model,
        data,
        data,
        options=TrainingOptions(epochs=3, learning_rate=0.01),
        compute=Compute(precision="bfloat16", steps_per_execution=3),
        callbacks=[recorder],
    )
    assert (recorder.conv_dtype, recorder.head_dtype) == ("bfloat16", "float32")
    assert recorder.optimizer == "AdamW"
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    # The caller's model: float32 as built, holding the trained weights, ready to evaluate.
    assert model.get_layer("backbone").get_layer("conv1_conv").compute_dtype == "float32"
    assert not np.allclose(model.get_weights()[0], start[0])
    _, accuracy = model.evaluate(data, verbose=0)
    assert accuracy == pytest.approx(history["val_accuracy"].iloc[-1], abs=0.05)


def test_float16_scales_the_loss():
    assert Compute(precision="float16").policy == "mixed_float16"
    optimizer = make_optimizer("sgd", learning_rate=0.1, steps=10, loss_scaling=True)
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(optimizer.inner_optimizer, keras.optimizers.SGD)


def test_compute_settings_are_checked_by_name():
    assert Compute().policy == "float32"  # this machine has no accelerator
    assert Compute().replicas == 1
    with pytest.raises(ValueError, match="compute.distribution='horovod' is not allowed"):
        Compute(distribution="horovod")
    with pytest.raises(ValueError, match="compute.steps_per_execution=0"):
        Compute(steps_per_execution=0)
    with pytest.raises(ValueError, match="'data_parallel' needs the JAX backend"):
        _ = Compute(distribution="data_parallel").strategy
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        _ = Compute(distribution="multi_worker").strategy


def test_training_options_are_checked_where_they_are_defined():
    TrainingOptions(epochs=2, learning_rate=0.1, schedule="one_cycle")
    for options, message in [
        ({"epochs": 0, "learning_rate": 0.1}, "epochs=0 must be an integer >= 1"),
        ({"epochs": 1.5}, "epochs=1.5 must be an integer >= 1"),
        ({"momentum": 1.0}, r"momentum=1.0 must lie in \[0.0, 1.0\)"),
        ({"gradient_clip_norm": 0}, r"gradient_clip_norm=0 must lie in \(0, inf\]"),
        ({"learning_rate": -1}, r"learning_rate=-1 must lie in \(0.0, inf\]"),
        ({"learning_rate": "fast"}, "learning_rate='fast' must lie in"),
        ({"optimizer": "lamb"}, r"optimizer='lamb' is not allowed; allowed: \['adamw', 'sgd'\]"),
        ({"schedule": "plateau", "warmup_epochs": 1}, "takes no warm-up"),
        ({"ema_momentum": 0.99, "early_stopping_patience": 2}, "cannot be combined"),
    ]:
        with pytest.raises(ValueError, match=message):
            TrainingOptions(**options)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epoch'\]"):
        TrainingOptions().updated({"epoch": 3})
    with pytest.raises(ValueError, match="training needs both"):
        train(
            keras.Sequential([keras.Input((8, 8, 3))]),
            separable_data(),
            options=TrainingOptions(epochs=1),
        )
