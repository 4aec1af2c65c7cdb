"""A weights file fits the backbone layer by layer, or it is refused before training,
naming the file, ``backbone.weights`` and how many layers matched of how many."""

from dataclasses import replace

import h5py
import keras
import numpy as np
import pytest

from resnet_finetune.config import check_backbone
from resnet_finetune.errors import ParameterError
from resnet_finetune.models import (
    BackboneSpec,
    backbone_from_weights,
    build_backbone,
    build_classifier,
    load_weights_file,
)

TINY = BackboneSpec(architecture="resnet20", width=0.25)  # 19 convolutions + 19 BatchNorms


def with_weights(path, **backbone) -> BackboneSpec:
    return replace(TINY, **backbone, weights=str(path))


def values(model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(weight) for weight in model.weights]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny backbone of random weights, saved in the three formats a start can take."""
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    folder = tmp_path_factory.mktemp("weights")
    keras.utils.set_random_seed(7)
    backbone = build_backbone(TINY)
    backbone.save_weights(folder / "resnet20.weights.h5")
    build_classifier(backbone, 3, image_size=(16, 16)).save(folder / "classifier.keras")
    with h5py.File(folder / "resnet20.h5", "w") as file:  # keras.applications' layout
        save_weights_to_hdf5_group(file, backbone)
    return backbone, folder


def test_a_keras_h5_of_another_model_is_refused_before_training(tmp_path):
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "other.h5"
    other.save(path)
    refusal = (
        r"backbone.weights='.*other.h5' does not fit backbone: 0 of 38 layers matched by name "
        r"with fitting shapes \(e.g. layer 'conv1_conv': no weights of that name; 37 more"
    )
    with pytest.raises(ValueError, match=refusal):
        check_backbone(with_weights(path), {})
    with pytest.raises(ValueError, match=refusal):  # the load refuses it the same way
        backbone_from_weights(with_weights(path))


@pytest.mark.parametrize(
    ("network", "refusal"),
    [
        (
            {"architecture": "resnet20"},
            r"0 of 38 layers matched .*layer 'conv1_conv': weights of shape "
            r"\[\(7, 7, 3, 16\), \(16,\)\] do not fit \[\(3, 3, 3, 4\)\]",
        ),
        (
            {"architecture": "resnet50"},  # the same stem: its first layers fit, then none
            r"7 of 106 layers matched .*layer 'conv2_block1_1_conv': weights of shape "
            r"\[\(3, 3, 16, 16\), \(16,\)\] do not fit \[\(1, 1, 16, 16\), \(16,\)\]",
        ),
    ],
)
def test_a_resnet18_file_for_another_network_is_refused(tmp_path, network, refusal):
    path = tmp_path / "resnet18.weights.h5"
    build_backbone(BackboneSpec(architecture="resnet18", width=0.25)).save_weights(path)
    with pytest.raises(ValueError, match=r"resnet18.weights.h5' does not fit backbone: " + refusal):
        check_backbone(with_weights(path, **network), {})


def test_a_by_name_file_that_leaves_layers_out_is_refused_by_check_and_load(saved):
    """Loading an .h5 by name skips the layers it does not name: counted, and refused."""
    backbone, folder = saved
    deeper = with_weights(folder / "resnet20.h5", architecture="resnet32")
    shortfall = r"38 of 62 layers matched .*layer 'conv2_block4_1_conv': no weights of that name"
    with pytest.raises(ValueError, match=shortfall):
        check_backbone(deeper, {})
    network = build_backbone(deeper)
    before = values(network)
    with pytest.raises(ValueError, match=shortfall):
        load_weights_file(network, folder / "resnet20.h5")
    for left, right in zip(values(network), before):  # refused before any layer was set
        np.testing.assert_array_equal(left, right)


@pytest.mark.parametrize("name", ["resnet20.weights.h5", "classifier.keras"])
def test_a_truncated_file_is_refused_with_the_reason(saved, tmp_path, name):
    _, folder = saved
    data = (folder / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"backbone.weights='.*{name}' .*(truncated|corrupt)"):
        check_backbone(with_weights(path), {})


def test_a_missing_path_or_another_kind_of_file_is_refused(tmp_path):
    missing = tmp_path / "nothing.weights.h5"
    with pytest.raises(ParameterError, match=r"weights='.*nothing.weights.h5': no such"):
        check_backbone(with_weights(missing), {})
    text = tmp_path / "notes.h5"
    text.write_text("not weights")
    with pytest.raises(ValueError, match=r"notes.h5' is not a weights file: neither HDF5"):
        check_backbone(with_weights(text), {})


@pytest.mark.parametrize("name", ["resnet20.weights.h5", "classifier.keras", "resnet20.h5"])
def test_a_fitting_file_is_accepted_and_loads_the_files_weights(saved, name):
    backbone, folder = saved
    config = with_weights(folder / name)
    check_backbone(config, {})
    keras.utils.set_random_seed(8)  # another initialisation: every value must come from the file
    loaded = backbone_from_weights(config)
    assert len(loaded.weights) == len(backbone.weights)
    for left, right in zip(values(loaded), values(backbone), strict=True):
        np.testing.assert_array_equal(left, right)


def test_the_check_reads_shapes_only_and_counts_what_the_load_sets(saved):
    backbone, folder = saved
    keras.utils.set_random_seed(9)
    network = build_backbone(TINY)
    before = values(network)
    assert load_weights_file(network, folder / "resnet20.weights.h5", check_only=True) == 38
    for left, right in zip(values(network), before):
        np.testing.assert_array_equal(left, right)
    assert load_weights_file(network, folder / "resnet20.weights.h5") == 38
    np.testing.assert_array_equal(values(network)[0], values(backbone)[0])
