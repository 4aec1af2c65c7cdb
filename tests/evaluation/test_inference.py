"""``predict_probabilities``: test-time augmentation, and the held-out images that the label
suspects' pass has read already, not read again."""

import hashlib

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from resnet_finetune.evaluation import inference
from resnet_finetune.evaluation.inference import features_and_probabilities, predict_probabilities
from resnet_finetune.models.card import attach_card, make_card

SIZE = 8


def left_or_right_model() -> keras.Model:
    """Class 0 when the left half is brighter than the right, class 1 otherwise."""
    inputs = keras.Input((SIZE, SIZE, 3), dtype="uint8")
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    head = keras.layers.Dense(2, activation="softmax")
    head.build((None, SIZE * SIZE * 3))
    left = np.zeros((SIZE, SIZE, 3), "float32")
    left[:, : SIZE // 2] = 1.0
    evidence = (left - left[:, ::-1]).reshape(-1) / 10
    head.set_weights([np.stack([evidence, -evidence], axis=1), np.zeros(2, "float32")])
    return keras.Model(inputs, head(x))


def image_rows(folder, images: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for name, pixels in images.items():
        path = folder / f"{name}.png"
        Image.fromarray(pixels).save(path)
        rows.append(
            {
                "path": str(path),
                "read_path": str(path),
                "label": "left",
                "class_index": 0,
                "split": "test",
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "format": "PNG",
                "width": SIZE,
                "height": SIZE,
            }
        )
    return pd.DataFrame(rows)


def test_flip_averages_an_image_with_its_mirror(tmp_path):
    rng = np.random.default_rng(0)
    half = rng.integers(0, 256, (SIZE, SIZE // 2, 3), dtype="uint8")
    symmetric = np.concatenate([half, half[:, ::-1]], axis=1)
    asymmetric = np.zeros((SIZE, SIZE, 3), "uint8")
    asymmetric[:, : SIZE // 2] = 255
    rows = image_rows(tmp_path, {"symmetric": symmetric, "asymmetric": asymmetric})
    model = attach_card(
        left_or_right_model(),
        make_card(
            rows,
            {"left": 0, "right": 1},
            None,
            image_size=(SIZE, SIZE),
            resize="squash",
            preprocessing="tf",
            parameters={},
            dataset_sha256="d" * 64,
        ),
    )
    plain = predict_probabilities(model, rows)
    flipped = predict_probabilities(model, rows, tta="flip")
    np.testing.assert_allclose(flipped[0], plain[0], atol=1e-6)  # a mirror changes nothing
    assert plain[1, 0] > 0.99  # the bright left half
    np.testing.assert_allclose(flipped[1], [0.5, 0.5], atol=1e-6)  # its mirror says right
    with pytest.raises(ValueError, match="tta='rotate'.*allowed"):
        predict_probabilities(model, rows, tta="rotate")


def small_classifier(rows: pd.DataFrame) -> keras.Model:
    from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier

    keras.utils.set_random_seed(0)
    backbone = build_backbone(BackboneSpec(architecture="resnet20", width=0.25))
    model = build_classifier(backbone, 2, image_size=(SIZE, SIZE))
    card = make_card(
        rows,
        {"left": 0, "right": 1},
        None,
        image_size=(SIZE, SIZE),
        resize="squash",
        preprocessing="tf",
        parameters={},
        dataset_sha256="d" * 64,
    )
    return attach_card(model, card)


def test_images_passed_with_their_features_are_not_read_again(tmp_path, monkeypatch):
    """One pass gives the label suspects their features and the held-out scoring its
    probabilities, equal to a pass of its own; other weights or other images: read."""
    rng = np.random.default_rng(1)
    pixels = {f"i{n}": rng.integers(0, 256, (SIZE, SIZE, 3), dtype="uint8") for n in range(10)}
    rows = image_rows(tmp_path, pixels)
    model = small_classifier(rows)
    features, probabilities = features_and_probabilities(model, rows)
    assert features.shape == (10, model.get_layer("head").input.shape[-1])
    held_out = rows.iloc[[7, 2, 5]]
    fresh = np.asarray(model.predict(inference.read_images(model, held_out), verbose=0))

    def no_reading(*_args, **_kwargs):
        raise AssertionError("images read again")

    with monkeypatch.context() as patched:
        patched.setattr(inference, "read_images", no_reading)
        reused = predict_probabilities(model, held_out)
    np.testing.assert_allclose(reused, fresh, atol=1e-6)
    np.testing.assert_array_equal(reused, probabilities[[7, 2, 5]])

    (tmp_path / "more").mkdir()
    more = pd.concat([held_out, image_rows(tmp_path / "more", {"new": pixels["i0"][::-1]})])
    with monkeypatch.context() as patched, pytest.raises(AssertionError, match="read again"):
        patched.setattr(inference, "read_images", no_reading)
        predict_probabilities(model, more)  # one image the pass did not read: all read
    changed = [w * 0.5 for w in model.get_weights()]
    model.set_weights(changed)  # trained since: its probabilities are read afresh
    again = predict_probabilities(model, held_out)
    assert np.abs(again - reused).max() > 1e-3
    np.testing.assert_allclose(
        again, model.predict(inference.read_images(model, held_out), verbose=0), atol=1e-6
    )
