"""Models load in Keras's safe mode: a saved file cannot run code on loading."""

import keras
import pytest

from resnet_finetune.models import BackboneSpec, backbone_from_weights, load_model


def test_a_model_file_carrying_code_is_refused_naming_the_file(tmp_path):
    model = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Flatten()]
    )
    path = tmp_path / "untrusted.keras"
    model.save(path)
    with pytest.raises(ValueError, match=r"untrusted.keras' holds code that would run"):
        load_model(path)
    config = BackboneSpec(architecture="resnet20", width=0.25, weights=str(path))
    # As a start, only its weights are read (the code is never deserialised): none fit.
    with pytest.raises(ValueError, match="untrusted.keras' does not fit backbone: 0 of 38 layers"):
        backbone_from_weights(config)
