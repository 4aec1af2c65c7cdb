import numpy as np
import pytest

from resnet_finetune.evaluation.metrics import classification_metrics, prediction_table


def test_metrics_on_a_hand_checked_example():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.3, 0.6, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.2, 0.7],
            [0.5, 0.1, 0.4],
        ]
    )
    metrics = classification_metrics(y_true, probabilities, ["a", "b", "c"], top_k=2)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["top_k_accuracy"] == pytest.approx(1.0)
    assert metrics["num_test_images"] == 6
    assert metrics["per_class"]["b"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_prediction_table_rows():
    table = prediction_table(
        ["x.png", "y.png"], np.array([1, 0]), np.array([[0.2, 0.8], [0.4, 0.6]]), ["no", "yes"]
    )
    assert table["predicted_label"].tolist() == ["yes", "yes"]
    assert table["correct"].tolist() == [True, False]
    assert table["p_yes"].tolist() == [0.8, 0.6]


def test_binary_metrics():
    y_true = np.array([0, 1, 1, 0])
    probabilities = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    metrics = classification_metrics(y_true, probabilities, ["ants", "bees"], top_k=1)
    assert metrics["accuracy"] == metrics["top_k_accuracy"] == 0.5
    assert classification_metrics(y_true, probabilities, ["a", "b"], top_k=2)["top_k_accuracy"] == 1
