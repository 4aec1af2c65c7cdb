"""Test-time augmentation in ``predict_probabilities``."""

import hashlib

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from resnet_finetune.evaluation.inference import predict_probabilities
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
