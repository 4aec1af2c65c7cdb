import keras
import numpy as np
import pytest

from resnet_finetune.models import build_resnet, total_stride, transfer_weights

KERAS_APPLICATIONS_COUNTS = {
    ("resnet50", "v1"): 25_636_712,
    ("resnet101", "v1"): 44_707_176,
    ("resnet152", "v1"): 60_419_944,
    ("resnet50", "v2"): 25_613_800,
    ("resnet101", "v2"): 44_675_560,
    ("resnet152", "v2"): 60_380_648,
}
TORCHVISION_TRAINABLE = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032}


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(("name", "variant"), sorted(KERAS_APPLICATIONS_COUNTS))
def test_parameter_count_equals_keras_applications(name, variant):
    model = build_resnet(name, input_shape=(224, 224, 3), variant=variant)
    assert model.count_params() == KERAS_APPLICATIONS_COUNTS[(name, variant)]


@pytest.mark.parametrize("name", sorted(TORCHVISION_TRAINABLE))
def test_trainable_count_equals_torchvision_without_conv_bias(name):
    model = build_resnet(name, input_shape=(224, 224, 3), variant="v1.5", conv_bias=False)
    assert trainable_count(model) == TORCHVISION_TRAINABLE[name]


@pytest.mark.parametrize(
    ("name", "millions"), [("resnet20", 0.27), ("resnet56", 0.85), ("resnet110", 1.7)]
)
def test_cifar_networks_match_the_paper(name, millions):
    model = build_resnet(name, input_shape=(32, 32, 3), num_classes=10)
    assert round(trainable_count(model) / 1e6, 2 if millions < 1 else 1) == millions


@pytest.mark.parametrize(("ours", "theirs"), [("v1", "ResNet50"), ("v2", "ResNet50V2")])
def test_weights_from_keras_applications_give_the_same_outputs(ours, theirs):
    reference = getattr(keras.applications, theirs)(weights=None, input_shape=(64, 64, 3))
    model = build_resnet("resnet50", input_shape=(64, 64, 3), variant=ours)
    assert transfer_weights(reference, model) == len([la for la in model.layers if la.weights])
    images = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    difference = np.abs(model.predict(images, verbose=0) - reference.predict(images, verbose=0))
    assert difference.max() <= 1e-5


def test_option_a_shortcut_adds_no_parameters_and_b_adds_projections():
    option_a = build_resnet("resnet20", input_shape=(32, 32, 3), num_classes=10, shortcut="A")
    option_b = build_resnet("resnet20", input_shape=(32, 32, 3), num_classes=10, shortcut="B")
    projections = [la.name for la in option_b.layers if la.name.endswith("_0_conv")]
    assert projections == ["conv3_block1_0_conv", "conv4_block1_0_conv"]
    assert option_b.count_params() > option_a.count_params()


def test_plain_network_has_no_shortcut():
    model = build_resnet("plain20", input_shape=(32, 32, 3), num_classes=10)
    assert not [la for la in model.layers if isinstance(la, keras.layers.Add)]


def test_head_computes_in_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_resnet("resnet20", input_shape=(16, 16, 3), num_classes=3)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert model.get_layer("conv1_conv").compute_dtype == "bfloat16"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "resnet19"}, "name='resnet19'"),
        ({"variant": "v3"}, "variant='v3'"),
        ({"name": "resnet20", "variant": "v2"}, "variant='v2'"),
        ({"name": "resnet50", "shortcut": "A"}, "shortcut='A'"),
        ({"num_classes": 1}, "num_classes=1"),
        ({"input_shape": (16, 16, 3)}, "total stride 32"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    arguments = {"name": "resnet50", "input_shape": (64, 64, 3), **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        build_resnet(arguments.pop("name"), **arguments)


def test_total_stride():
    assert total_stride("resnet50") == 32
    assert total_stride("resnet20") == 4


@pytest.mark.parametrize(
    ("name", "variant", "theirs"),
    [("resnet101", "v1", "ResNet101"), ("resnet152", "v2", "ResNet152V2")],
)
def test_deeper_networks_take_keras_applications_weights(name, variant, theirs):
    reference = getattr(keras.applications, theirs)(weights=None, input_shape=(32, 32, 3))
    model = build_resnet(name, input_shape=(32, 32, 3), variant=variant)
    transfer_weights(reference, model)
    images = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    difference = np.abs(model.predict(images, verbose=0) - reference.predict(images, verbose=0))
    assert difference.max() <= 1e-5


def test_weight_file_in_the_published_layout_loads_by_name(tmp_path):
    """keras.applications publishes legacy HDF5 files of layer-name groups."""
    import h5py
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    reference = keras.applications.ResNet50(
        weights=None, include_top=False, input_shape=(64, 64, 3)
    )
    path = tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as file:
        save_weights_to_hdf5_group(file, reference)
    model = build_resnet(
        "resnet50", input_shape=(64, 64, 3), include_top=False, pooling=None, weights=str(path)
    )
    images = np.random.default_rng(2).uniform(-1, 1, (1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(
        model.predict(images, verbose=0), reference.predict(images, verbose=0), atol=1e-5
    )


def test_imagenet_weights_come_from_keras_applications(monkeypatch, tmp_path):
    """Offline stand-in for the download: a keras.applications file of random weights,
    asked for by network and variant."""
    from resnet_finetune.models import resnet as resnet_module

    reference = keras.applications.ResNet50V2(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    path = tmp_path / "resnet50v2_notop.weights.h5"
    reference.save_weights(path)
    asked = []
    monkeypatch.setattr(
        resnet_module, "fetch_imagenet_weights", lambda *network: asked.append(network) or path
    )
    model = build_resnet(
        "resnet50", input_shape=(32, 32, 3), variant="v2", include_top=False, weights="imagenet"
    )
    assert asked == [("resnet50", "v2")]
    np.testing.assert_array_equal(
        model.get_layer("conv5_block3_3_conv").get_weights()[0],
        reference.get_layer("conv5_block3_3_conv").get_weights()[0],
    )
    assert resnet_module.imagenet_network_of_file(path) == ("resnet50", "v2")
    with pytest.raises(ValueError, match="weights='imagenet' exists for"):
        build_resnet("resnet18", input_shape=(32, 32, 3), weights="imagenet")


@pytest.mark.parametrize(
    "failure, reason",
    [
        (
            Exception(
                "URL fetch failure on https://x: None -- [Errno -2] Name or service not known"
            ),
            "offline: resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 could not be downloaded "
            "([Errno -2] Name or service not known)",
        ),
        (ValueError("Incomplete or corrupted file detected."), "checksum mismatch"),
    ],
)
def test_a_failed_download_names_its_reason(monkeypatch, failure, reason):
    from resnet_finetune.models.resnet import WeightsUnavailable, fetch_imagenet_weights

    def get_file(*_, **__):
        raise failure

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    with pytest.raises(WeightsUnavailable) as raised:
        fetch_imagenet_weights("resnet50", "v1")
    assert raised.value.reason.startswith(reason)


def test_weights_that_do_not_fit_name_the_layer():
    small = build_resnet("resnet20", input_shape=(16, 16, 3), num_classes=10)
    wide = build_resnet("resnet20", input_shape=(16, 16, 3), num_classes=10, width=2)
    with pytest.raises(ValueError, match="layer 'conv1_conv'"):
        transfer_weights(small, wide)


def test_stochastic_depth_grows_linearly_and_only_acts_in_training():
    model = build_resnet("resnet20", input_shape=(8, 8, 3), num_classes=2, stochastic_depth=0.4)
    rates = [la.rate for la in model.layers if la.name.endswith("_drop_path")]
    assert len(rates) == 8  # the first of 9 blocks has rate 0: no layer
    np.testing.assert_allclose(rates, [0.4 * i / 8 for i in range(1, 9)])
    images = np.random.default_rng(3).uniform(-1, 1, (16, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(model(images, training=False), model(images, training=False))
    assert not np.allclose(model(images, training=True), model(images, training=True))


def test_zero_init_residual_starts_each_block_as_identity():
    model = build_resnet(
        "resnet18", input_shape=(32, 32, 3), zero_init_residual=True, variant="v1.5"
    )
    gammas = [la.gamma.numpy() for la in model.layers if la.name.endswith("block1_2_bn")]
    assert gammas and all(not g.any() for g in gammas)
    with pytest.raises(ValueError, match="zero_init_residual"):
        build_resnet("resnet50", input_shape=(64, 64, 3), variant="v2", zero_init_residual=True)
