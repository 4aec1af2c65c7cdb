import pytest

from resnet_finetune.models import architecture_report, build_resnet, multiply_adds

# The paper's Table 1, billions of multiply-adds at 224x224.
PAPER_FLOPS = {
    "resnet18": 1.8,
    "resnet34": 3.6,
    "resnet50": 3.8,
    "resnet101": 7.6,
    "resnet152": 11.3,
}


@pytest.mark.parametrize("name", sorted(PAPER_FLOPS))
def test_multiply_adds_within_two_percent_of_the_paper(name):
    billions = multiply_adds(build_resnet(name, input_shape=(224, 224, 3))) / 1e9
    assert billions == pytest.approx(PAPER_FLOPS[name], rel=0.02)


def test_report_of_a_cifar_network():
    report = architecture_report(build_resnet("resnet20", input_shape=(32, 32, 3), num_classes=10))
    assert report["stage_output_shapes"] == {
        "conv2": [32, 32, 16],
        "conv3": [16, 16, 32],
        "conv4": [8, 8, 64],
    }
    assert report["parameters"] == (
        report["trainable_parameters"] + report["non_trainable_parameters"]
    )
    # 19 3x3 convolutions and one dense layer, counted by hand.
    convs = (
        32 * 32 * 9 * (3 * 16 + 6 * 16 * 16)
        + 16 * 16 * 9 * (16 * 32 + 5 * 32 * 32)
        + 8 * 8 * 9 * (32 * 64 + 5 * 64 * 64)
    )
    assert report["multiply_adds_per_image"] == convs + 64 * 10
    assert report["output_shape"] == [10]


def test_size_agnostic_model_needs_an_input_size():
    with pytest.raises(ValueError, match="no fixed output size"):
        multiply_adds(build_resnet("resnet20", input_shape=(None, None, 3), num_classes=10))
