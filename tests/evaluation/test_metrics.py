import numpy as np
import pandas as pd
import pytest

from resnet_finetune.evaluation.metrics import (
    UNSURE,
    classification_metrics,
    confusion,
    confusion_table,
    most_confident_mistakes,
    per_class_table,
    prediction_summary,
    prediction_table,
    top_k_table,
)
from resnet_finetune.evaluation.plots import classes_take_turns


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


def test_per_class_and_confusion_tables_hold_the_metrics_numbers():
    y_true = np.array([0, 0, 0, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    names = ["a", "b", "c"]
    metrics = classification_metrics(y_true, np.eye(3)[y_pred], names)
    per_class = per_class_table(metrics)
    assert per_class.columns.tolist() == ["label", "precision", "recall", "f1", "support"]
    assert per_class.set_index("label").loc["a"].tolist() == pytest.approx([0.5, 1 / 3, 0.4, 3])
    table = confusion_table(confusion(y_true, y_pred, 3), names)
    counts = table.pivot(index="true_label", columns="predicted_label", values="count")
    assert counts.to_numpy().tolist() == [[1, 2, 0], [0, 1, 0], [1, 0, 1]]
    shares = table.groupby("true_label")["share_of_true_label"]
    assert shares.sum().tolist() == pytest.approx([1, 1, 1])
    assert table.loc[1, "share_of_true_label"] == pytest.approx(2 / 3)  # a seen as b


def test_a_class_without_test_images_has_zero_shares():
    table = confusion_table(confusion(np.array([0, 0]), np.array([0, 1]), 2), ["a", "b"])
    assert table["share_of_true_label"].tolist() == [0.5, 0.5, 0, 0]


def test_most_confident_mistakes_are_wrong_and_sorted():
    table = prediction_table(
        ["w.png", "x.png", "y.png", "z.png"],
        np.array([0, 0, 1, 1]),
        np.array([[0.4, 0.6], [0.1, 0.9], [0.2, 0.8], [0.7, 0.3]]),
        ["no", "yes"],
    )
    assert most_confident_mistakes(table, 5)["path"].tolist() == ["x.png", "z.png", "w.png"]
    assert most_confident_mistakes(table, 1)["path"].tolist() == ["x.png"]


def test_classes_take_turns_in_a_grid():
    rows = pd.DataFrame({"label": ["a", "a", "a", "b", "c", "c"], "n": range(6)})
    assert classes_take_turns(rows, "label", 5)["n"].tolist() == [0, 3, 4, 1, 5]


def test_min_confidence_marks_exactly_the_images_below_it_unsure():
    probabilities = np.array(
        [
            [0.95, 0.03, 0.02],
            [0.05, 0.90, 0.05],  # exactly at the threshold: sure enough
            [0.0500004, 0.8999996, 0.05],  # written 0.9 (6 decimals): as shown, sure
            [0.05, 0.05, 0.8999],
            [0.40, 0.35, 0.25],
        ]
    )
    paths = [f"{i}.png" for i in range(5)]
    table = top_k_table(paths, probabilities, ["a", "b", "c"], 2, min_confidence=0.9)
    assert table.columns.tolist() == ["path", "label", "label_1", "p_1", "label_2", "p_2"]
    assert table["label"].tolist() == ["a", "b", "b", UNSURE, UNSURE]
    assert table["label_1"].tolist() == ["a", "b", "b", "c", "a"]  # the guesses stay
    summary = prediction_summary(table, 0.9, "none")
    assert summary["images"] == 5 and summary["unsure"] == 2
    assert summary["images_per_label"] == {"unsure": 2, "b": 2, "a": 1}
    # Off (null): no label column, nothing unsure.
    plain = top_k_table(paths, probabilities, ["a", "b", "c"], 2)
    assert "label" not in plain and prediction_summary(plain, None, "none")["unsure"] == 0


def test_a_class_named_unsure_is_refused_with_min_confidence():
    probabilities = np.array([[0.6, 0.4]])
    with pytest.raises(ValueError, match="class named 'unsure'.*predict.min_confidence null"):
        top_k_table(["x.png"], probabilities, ["unsure", "sure"], 1, min_confidence=0.5)
    # Without it the class is just a class.
    assert top_k_table(["x.png"], probabilities, ["unsure", "sure"], 1)["label_1"][0] == "unsure"
