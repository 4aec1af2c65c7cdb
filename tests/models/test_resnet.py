import keras
import numpy as np
import pytest

from resnet_finetune.models import build_resnet, total_stride, transfer_weights

KERAS_APPLICATIONS_COUNTS = {
    ("resnet50", "v1"): 25_636_712,
    ("resnet101", "v1"): 44_707_176,
    ("resnet50", "v2"): 25_613_800,
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
