"""The reports a person reads, as the shared fine-tuning run wrote them."""

import json

import pandas as pd
import pytest

from resnet_finetune.evaluation.calibration import (
    expected_calibration_error,
    scaled_probabilities,
)
from resnet_finetune.evaluation.metrics import most_confident_mistakes
from resnet_finetune.models import TemperatureScaling, load_model
from resnet_finetune.models.card import read_card
from tests.evaluation.html_page import Page, chromium_images, png_sizes
from tests.pipelines.conftest import latest

REPORTING = "data/08_reporting"
FINETUNED = "data/06_models/finetuned_model.keras"


@pytest.fixture(scope="module")
def outputs(finetune_run):
    """The run's held-out predictions and metrics, and its report read back."""
    predictions = pd.read_csv(
        latest(finetune_run, "data/07_model_output/test_predictions.csv"),
        dtype={"true_label": str, "predicted_label": str},
    )
    metrics = json.loads(latest(finetune_run, f"{REPORTING}/metrics.json").read_text())
    html = latest(finetune_run, f"{REPORTING}/evaluation_report.html").read_text()
    return predictions, metrics, html


def test_per_class_table_holds_the_metrics(finetune_run, outputs):
    _, metrics, _ = outputs
    table = pd.read_csv(
        latest(finetune_run, f"{REPORTING}/per_class_metrics.csv"), dtype={"label": str}
    )
    assert table.columns.tolist() == ["label", "precision", "recall", "f1", "support"]
    rows = table.set_index("label").to_dict("index")
    assert rows.keys() == metrics["per_class"].keys()
    for label, scores in metrics["per_class"].items():
        assert rows[label] == pytest.approx(scores)
    assert table["support"].sum() == metrics["num_test_images"]


def test_confusion_table_counts_every_held_out_image_once(finetune_run, outputs):
    predictions, metrics, _ = outputs
    table = pd.read_csv(
        latest(finetune_run, f"{REPORTING}/confusion_table.csv"),
        dtype={"true_label": str, "predicted_label": str},
    )
    assert len(table) == 5 * 5
    assert table["count"].sum() == metrics["num_test_images"] == len(predictions)
    counts = table.pivot(index="true_label", columns="predicted_label", values="count")
    expected = pd.crosstab(predictions["true_label"], predictions["predicted_label"])
    expected = expected.reindex(index=counts.index, columns=counts.columns, fill_value=0)
    assert (counts.to_numpy() == expected.to_numpy()).all()
    shares = table.groupby("true_label")["share_of_true_label"].sum()
    assert shares.to_numpy() == pytest.approx(1, abs=1e-5)
    diagonal = table[table["true_label"] == table["predicted_label"]].set_index("true_label")
    recall = diagonal["share_of_true_label"]
    for label, scores in metrics["per_class"].items():
        assert recall[label] == pytest.approx(scores["recall"], abs=1e-6)


def test_report_shows_the_most_confident_mistakes_only(outputs):
    predictions, _, html = outputs
    [shown] = Page(html).tables["Most confidently wrong (test split)"]
    expected = most_confident_mistakes(predictions, 24)
    assert 0 < len(shown) == len(expected)
    assert shown["path"].tolist() == expected["path"].tolist()
    assert (shown["true_label"] != shown["predicted_label"]).all()
    wrong = predictions.set_index("path").loc[shown["path"]]
    assert not wrong["correct"].any()
    confidence = shown["confidence"].astype(float)
    assert confidence.is_monotonic_decreasing
    # Nothing left out was wrong with more confidence.
    left_out = predictions[~predictions["correct"] & ~predictions["path"].isin(shown["path"])]
    assert (left_out["confidence"] <= confidence.min()).all()


def test_report_gathers_figures_data_and_parameters(finetune_run, outputs):
    _, metrics, html = outputs
    page = Page(html)
    # Learning curves, confusion matrix, reliability diagram, mistakes, Grad-CAM, likely
    # mislabelled images: each a whole embedded PNG.
    assert len(png_sizes(page.images)) == 6
    scores = dict(page.tables["Scores"][0].to_numpy())
    assert float(scores["accuracy"]) == pytest.approx(metrics["accuracy"], abs=5e-5)
    counts, data = page.tables["Data"]
    assert counts.set_index("label")[["train", "val"]].astype(int).eq([6, 4]).all().all()
    assert dict(data.to_numpy())["num_images"] == "896"
    parameters = dict(page.tables["Parameters"][0].to_numpy())
    assert parameters["target.split.train_per_class"] == "6"
    assert parameters["finetune.phases[1].name"] == "backbone unfrozen"
    for name in ("misclassified_examples", "grad_cam_examples"):
        assert latest(finetune_run, f"{REPORTING}/{name}.png").stat().st_size > 10_000
    # The page is logged to the run's MLflow artifacts as it is.
    logged = (finetune_run / "mlruns").rglob("evaluation_report.html")
    assert html in {path.read_text() for path in logged}


def test_calibration_fitted_on_validation_is_scored_on_test_before_and_after(finetune_run, outputs):
    predictions, metrics, html = outputs
    card = read_card(latest(finetune_run, "data/06_models/finetuned_model.keras"))
    fitted = card.data["calibration"]
    assert fitted["split"] == card.data["selection_split"] == "val"
    assert fitted["images"] == 5 * 4  # val_per_class of the tiny run
    assert fitted["nll_after"] <= fitted["nll_before"]  # what T was fitted to lower
    block = metrics["calibration"]
    assert block["temperature"] == fitted["temperature"] > 0
    assert block["bins"] == 15 and block["validation_images"] == fitted["images"]
    labels = predictions["true_label"].map(card.class_map).to_numpy()
    probabilities = predictions[[f"p_{name}" for name in card.class_names]].to_numpy()
    assert block["ece_after"] == pytest.approx(
        expected_calibration_error(probabilities, labels), abs=1e-9
    )
    before = scaled_probabilities(probabilities, 1 / fitted["temperature"])
    assert block["ece_before"] == pytest.approx(
        expected_calibration_error(before, labels), abs=1e-9
    )
    # The saved model carries T: the predictions are the calibrated ones.
    assert isinstance(load_model(latest(finetune_run, FINETUNED)).layers[-1], TemperatureScaling)
    [shown] = Page(html).tables["Confidence"]
    shown = dict(shown.to_numpy())
    assert float(shown["temperature"]) == pytest.approx(block["temperature"], rel=1e-3)
    assert float(shown["ECE after"]) == pytest.approx(block["ece_after"], abs=1e-4)
    assert latest(finetune_run, f"{REPORTING}/reliability_diagram.png").stat().st_size > 10_000


def test_report_opens_in_headless_chromium_without_missing_images(outputs, tmp_path):
    *_, html = outputs
    assert chromium_images(html, tmp_path) == (6, 6)  # with the reliability diagram
