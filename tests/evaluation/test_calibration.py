import keras
import numpy as np
import pytest

from resnet_finetune.evaluation.calibration import (
    ECE_BINS,
    calibrate,
    expected_calibration_error,
    fit_temperature,
    held_out_calibration,
    negative_log_likelihood,
    reliability_table,
    scaled_probabilities,
)
from resnet_finetune.models import TemperatureScaling, load_model, with_temperature


def over_confident(images: int = 2000, classes: int = 4, seed: int = 0):
    """Labels drawn from softmax(z), probabilities given as softmax(3 z): right about as
    often as the true ones say, but far more sure of themselves."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (images, classes))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(classes, p=row) for row in true])
    sharp = np.exp(3 * logits)
    return sharp / sharp.sum(axis=1, keepdims=True), labels


def test_temperature_fitted_on_over_confident_probabilities_lowers_nll_and_ece():
    probabilities, labels = over_confident()
    temperature = fit_temperature(probabilities, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)  # the sharpening it undoes
    after = scaled_probabilities(probabilities, temperature)
    nll_before, nll_after = (negative_log_likelihood(p, labels) for p in (probabilities, after))
    ece_before, ece_after = (expected_calibration_error(p, labels) for p in (probabilities, after))
    assert nll_after < nll_before - 0.3
    assert ece_before > 0.15 and ece_after < 0.04
    np.testing.assert_array_equal(after.argmax(axis=1), probabilities.argmax(axis=1))


def test_expected_calibration_error_by_hand():
    # Two images at 0.9 (one right), two at 0.6 (both right): bins (0.8667, 0.9333] and
    # (0.5333, 0.6]: |0.5 - 0.9| * 2/4 + |1.0 - 0.6| * 2/4 = 0.4.
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 1, 0, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.4)
    table = reliability_table(probabilities, labels)
    assert len(table) == ECE_BINS and table["images"].sum() == 4
    assert table.loc[table["images"] > 0, "accuracy"].tolist() == [1.0, 0.5]
    # Confidence 1 falls in the last bin, not outside.
    assert reliability_table(np.array([[1.0, 0.0]]), np.array([0]))["images"].iloc[-1] == 1


def test_the_layer_round_trips_through_a_saved_model_and_keeps_the_top_class(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="head")(inputs))
    calibrated = with_temperature(model, 2.5)
    x = np.random.default_rng(0).normal(0, 3, (64, 3)).astype("float32")
    plain, scaled = model.predict(x, verbose=0), calibrated.predict(x, verbose=0)
    np.testing.assert_array_equal(scaled.argmax(axis=1), plain.argmax(axis=1))
    assert scaled.max(axis=1).mean() < plain.max(axis=1).mean()  # T > 1: less sure
    np.testing.assert_allclose(scaled, scaled_probabilities(plain, 2.5), atol=1e-6)
    calibrated.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    assert isinstance(loaded.layers[-1], TemperatureScaling)
    assert loaded.layers[-1].temperature == 2.5
    np.testing.assert_allclose(loaded.predict(x, verbose=0), scaled, atol=1e-6)


def test_a_probability_of_zero_does_not_break_the_layer():
    # A saturated float32 softmax gives exactly 0: clipped before the log, and so small
    # that a temperature does not turn it into visible probability.
    scaled = scaled_probabilities(np.array([[1.0, 0.0, 0.0]]), 3.0)
    assert np.isfinite(scaled).all() and scaled[0, 0] == 1.0 and scaled[0, 1:].max() < 1e-12


def test_calibrate_fits_on_the_batches_and_records_it():
    probabilities, labels = over_confident(400)
    inputs = keras.Input((4,))
    identity = keras.Model(inputs, keras.layers.Activation("linear")(inputs))
    batches = [(probabilities[i : i + 64], labels[i : i + 64]) for i in range(0, 400, 64)]
    model, record = calibrate(identity, batches)
    assert record["images"] == 400 and record["split"] == "val" and record["bins"] == ECE_BINS
    assert record["temperature"] == pytest.approx(fit_temperature(probabilities, labels))
    assert record["ece_after"] < record["ece_before"]
    assert record["nll_after"] < record["nll_before"]
    assert isinstance(model.layers[-1], TemperatureScaling)
    # One-hot labels (batches made for MixUp/CutMix) are read as their class.
    one_hot = [(p, np.eye(4)[y]) for p, y in batches]
    assert calibrate(identity, one_hot)[1] == record


def test_calibrate_without_validation_images_names_the_parameter():
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="finetune.calibrate: false"):
        calibrate(keras.Model(inputs, inputs), [])


def test_held_out_block_undoes_the_temperature_for_before():
    probabilities, labels = over_confident(500, seed=1)
    fitted = {"temperature": 3.0, "images": 40, "ece_before": 0.2, "ece_after": 0.05}
    block = held_out_calibration(scaled_probabilities(probabilities, 3.0), labels, fitted)
    assert block["temperature"] == 3.0 and block["bins"] == ECE_BINS
    assert block["ece_before"] == pytest.approx(
        expected_calibration_error(probabilities, labels), abs=1e-4
    )
    assert block["ece_after"] < block["ece_before"]
    assert block["validation_images"] == 40
    plain = held_out_calibration(probabilities, labels, None)
    assert plain["temperature"] is None and plain["ece_before"] == plain["ece_after"]
