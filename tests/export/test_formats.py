"""Every export loads in its own runtime and predicts like the Keras model."""

import keras
import numpy as np
import pytest

from resnet_finetune.export import FORMATS, check_exports, export_model
from resnet_finetune.models import build_backbone, build_classifier
from resnet_finetune.training import train
from tests.training.test_training import CONFIG, separable_data


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small classifier trained to confident predictions, saved and exported."""
    keras.utils.set_random_seed(0)
    model = build_classifier(build_backbone(CONFIG), 2, image_size=(8, 8))
    data = separable_data(n=96)
    train(model, data, epochs=3, learning_rate=0.01)
    images = np.concatenate([x.numpy() for x, _ in data])
    labels = np.concatenate([y.numpy() for _, y in data])
    folder = tmp_path_factory.mktemp("exports")
    model.save(folder / "model.keras")
    paths = export_model(model, folder, representative_images=images[:32])
    return {"keras": folder / "model.keras", **paths}, images, labels


def test_every_format_is_written_and_agrees_with_keras(exported):
    paths, images, labels = exported
    assert list(paths) == ["keras", *FORMATS]
    table = check_exports(paths, images, labels, latency_repeats=5).set_index("format")
    assert table.loc["keras", "accuracy"] > 0.9  # the reference is a trained model
    for name in ("saved_model", "onnx", "tflite_float32", "tflite_float16"):
        assert table.loc[name, "top1_agreement"] >= 0.99, name
    assert table.loc["tflite_int8", "top1_agreement"] >= 0.9
    assert table.loc["tflite_int8", "accuracy_change"] == pytest.approx(
        table.loc["tflite_int8", "accuracy"] - table.loc["keras", "accuracy"]
    )
    sizes = table["size_mib"]
    assert sizes["tflite_int8"] < sizes["tflite_float16"] < sizes["tflite_float32"]
    assert (table["latency_ms"] > 0).all()


def test_unknown_format_and_missing_calibration_images_are_refused(tmp_path):
    model = build_classifier(build_backbone(CONFIG), 2, image_size=(8, 8))
    with pytest.raises(ValueError, match=r"export.formats: \['coreml'\] not allowed"):
        export_model(model, tmp_path, np.zeros((1, 8, 8, 3), "uint8"), formats=["coreml"])
    with pytest.raises(ValueError, match="int8 quantisation needs representative images"):
        export_model(model, tmp_path, np.zeros((0, 8, 8, 3), "uint8"), formats=["tflite_int8"])
