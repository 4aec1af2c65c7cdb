import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from resnet_finetune.evaluation.metrics import (
    classification_metrics,
    most_confident_mistakes,
    per_class_table,
    prediction_table,
)
from resnet_finetune.evaluation.plots import grad_cam_grid, image_grid, learning_curves
from resnet_finetune.evaluation.report import evaluation_report, flatten, html_report
from tests.evaluation.html_page import Page, chromium_images, png_sizes


def figure(width: float = 4, height: float = 3, title: str = "a figure") -> plt.Figure:
    result, axis = plt.subplots(figsize=(width, height))
    axis.plot([0, 1], [1, 0])
    result.suptitle(title)
    return result


def test_flatten_names_every_leaf_by_its_path():
    tree = {"seed": 1, "finetune": {"phases": [{"epochs": 2}, {"epochs": 3}], "tags": [1, 2]}}
    assert flatten(tree) == {
        "seed": 1,
        "finetune.phases[0].epochs": 2,
        "finetune.phases[1].epochs": 3,
        "finetune.tags": [1, 2],
    }


def test_html_report_embeds_figures_tables_and_escaped_text():
    table = pd.DataFrame({"label": ["a", "b"], "f1": [0.5, 0.25]})
    text = html_report(
        "A <report>",
        [
            ("Figures", [figure(4, 3), figure(8, 2)]),
            ("Tables", [table, {"model": {"depth": 20, "rate": 1 / 3}}]),
            ("Notes", ["<script>alert(1)</script>"]),
        ],
    )
    page = Page(text)
    # Each figure is a whole PNG of its own size (110 dpi, trimmed to what is drawn).
    (w1, h1), (w2, h2) = png_sizes(page.images)
    assert w1 < w2 and h1 > h2 and 300 < w1 < 4 * 110
    assert page.tables["Tables"][0].to_dict("list") == {
        "label": ["a", "b"],
        "f1": ["0.500", "0.250"],
    }
    assert page.tables["Tables"][1].to_dict("records") == [
        {"key": "model.depth", "value": "20"},
        {"key": "model.rate", "value": "0.3333"},
    ]
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<title>A &lt;report&gt;</title>" in text


def scored(correct: list[bool]):
    """A prediction table of two classes, with confidences falling row by row."""
    y_true = np.array([index % 2 for index in range(len(correct))])
    confidence = np.linspace(0.95, 0.55, len(correct))
    predicted = np.where(correct, y_true, 1 - y_true)
    probabilities = np.zeros((len(correct), 2))
    probabilities[np.arange(len(correct)), predicted] = confidence
    probabilities[np.arange(len(correct)), 1 - predicted] = 1 - confidence
    paths = [f"{index}.png" for index in range(len(correct))]
    return prediction_table(paths, y_true, probabilities, ["cat", "dog"]), y_true, probabilities


def report_of(predictions, y_true, probabilities):
    metrics = classification_metrics(y_true, probabilities, ["cat", "dog"], top_k=1)
    metrics["evaluated_split"] = "test"
    wrong = most_confident_mistakes(predictions, 3)
    images = np.zeros((len(wrong), 8, 8, 3), dtype="uint8")
    history = pd.DataFrame(
        {
            "global_epoch": [1, 2, 3],
            "phase": ["frozen", "unfrozen", "unfrozen"],
            "loss": [1.0, 0.5, 0.4],
            "val_loss": [1.1, 0.6, 0.5],
            "accuracy": [0.5, 0.7, 0.8],
            "val_accuracy": [0.4, 0.6, 0.7],
        }
    )
    return evaluation_report(
        metrics=metrics,
        per_class=per_class_table(metrics),
        ingestion_summary={
            "num_images": 10,
            "images_per_class_and_split": {"train": {"cat": 3, "dog": 3}, "test": {"cat": 4}},
            "left_out_by_reason": {"hidden": 1},
        },
        learning_curves=learning_curves(history, "curves"),
        confusion=figure(title="confusion"),
        mistakes=image_grid(images, ["x"] * len(wrong), "mistakes"),
        mistaken_rows=wrong,
        grad_cams=grad_cam_grid(images[:1], np.ones((1, 8, 8)), ["y"], "cams"),
        parameters={"seed": 7, "finetune": {"phases": [{"name": "frozen", "epochs": 1}]}},
    )


def test_evaluation_report_gathers_scores_data_figures_and_parameters():
    predictions, y_true, probabilities = scored([True, False, True, False, False, True])
    page = Page(report_of(predictions, y_true, probabilities))
    assert len(png_sizes(page.images)) == 4
    [scores] = page.tables["Scores"]
    assert dict(zip(scores["key"], scores["value"])) == {
        "evaluated split": "test",
        "images": "6",
        "accuracy": "0.5",
        "top-1 accuracy": "0.5",
        "macro F1": "0.4857",  # (4/7 + 2/5) / 2
    }
    counts, data = page.tables["Data"]
    assert counts.to_dict("records") == [
        {"label": "cat", "train": "3", "test": "4"},
        {"label": "dog", "train": "3", "test": "0"},
    ]
    assert dict(zip(data["key"], data["value"])) == {
        "num_images": "10",
        "left_out_by_reason.hidden": "1",
    }
    [per_class] = page.tables["Precision, recall and F1 per class"]
    assert per_class["label"].tolist() == ["cat", "dog"]
    assert per_class["support"].tolist() == ["3", "3"]
    # The wrong rows, most confident first, with their files.
    [mistakes] = page.tables["Most confidently wrong (test split)"]
    assert mistakes["path"].tolist() == ["1.png", "3.png", "4.png"]
    assert (mistakes["true_label"] != mistakes["predicted_label"]).all()
    [parameters] = page.tables["Parameters"]
    assert dict(zip(parameters["key"], parameters["value"])) == {
        "seed": "7",
        "finetune.phases[0].name": "frozen",
        "finetune.phases[0].epochs": "1",
    }


def test_a_report_without_mistakes_says_so():
    predictions, y_true, probabilities = scored([True] * 4)
    text = report_of(predictions, y_true, probabilities)
    assert "No image was misclassified." in text
    # The grid of mistakes is left out; curves, confusion matrix and Grad-CAM stay.
    assert len(png_sizes(Page(text).images)) == 3


def test_chromium_finds_every_missing_image(tmp_path):
    text = html_report("page", [("figures", [figure(4, 3), figure(5, 3), figure(6, 3)])])
    _, second, third = Page(text).images
    text = text.replace(second, "missing.png").replace(third, "data:image/png;base64,AAAAbroken")
    assert chromium_images(text, tmp_path) == (1, 3)
