"""Node functions on their own: thin, but each with behaviour worth pinning."""

import keras
import pandas as pd
import pytest

from resnet_finetune.models import build_backbone, build_classifier
from resnet_finetune.pipelines.evaluate.nodes import compare_with_scratch, score_predictions
from resnet_finetune.pipelines.finetune.nodes import prepare_backbone
from resnet_finetune.pipelines.ingestion.nodes import ingest_images, locate_images

BACKBONE = {"architecture": "resnet20", "width": 0.25, "weights": "pretrain"}


def test_locate_images_writes_the_embedded_default_or_checks_the_folder(tmp_path):
    root = locate_images(None, {"dir": str(tmp_path / "digits"), "digits": [0, 1]})
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["0", "1"]
    assert locate_images(str(tmp_path / "digits"), {}) == root
    with pytest.raises(FileNotFoundError, match="data_dir='/nowhere' is not a folder"):
        locate_images("/nowhere", {})


def test_ingest_images_summarises_counts_and_left_out_files(class_folder):
    (class_folder / "cat" / "broken.png").write_bytes(b"\x89PNG")
    manifest, report, class_map, summary = ingest_images(
        str(class_folder), {"val_fraction": 0.2, "test_fraction": 0.2}
    )
    assert summary["num_images"] == len(manifest) == 30
    assert summary["num_left_out"] == len(report) == 1
    assert summary["images_per_split"] == {"train": 18, "val": 6, "test": 6}
    assert summary["imbalance_ratio"] == 1.0 and len(class_map) == 3


def test_prepare_backbone_takes_the_pretrained_backbone_or_refuses_bad_ones():
    pretrained = build_classifier(build_backbone(BACKBONE), 3, image_size=(8, 8))
    backbone = prepare_backbone(BACKBONE, pretrained)
    assert backbone is pretrained.get_layer("backbone")
    grey = build_classifier(build_backbone(BACKBONE, channels=1), 3, image_size=(8, 8))
    with pytest.raises(ValueError, match="1-channel inputs; the images are RGB"):
        prepare_backbone(BACKBONE, grey)
    headless = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="neither a 'backbone' layer nor a global pooling"):
        prepare_backbone(BACKBONE, headless)


def test_score_predictions_reads_the_prediction_table():
    table = pd.DataFrame(
        {
            "path": ["a", "b", "c", "d"],
            "split": "test",
            "true_label": ["x", "x", "y", "y"],
            "p_x": [0.9, 0.4, 0.2, 0.3],
            "p_y": [0.1, 0.6, 0.8, 0.7],
        }
    )
    metrics, figure = score_predictions(table, {"x": 0, "y": 1}, {"top_k": 1})
    assert metrics["accuracy"] == 0.75 and metrics["evaluated_split"] == "test"
    assert metrics["per_class"]["x"]["recall"] == 0.5
    assert len(figure.axes) >= 2


def test_compare_with_scratch_reports_the_gain():
    finetuned = {
        "evaluated_split": "test",
        "num_test_images": 10,
        "accuracy": 0.9,
        "top_k_accuracy": 1.0,
        "macro_f1": 0.8,
    }
    scratch = {"accuracy": 0.7, "top_k_accuracy": 0.9, "macro_f1": 0.75}
    comparison = compare_with_scratch(finetuned, scratch)
    assert comparison["gain_from_pretraining"]["accuracy"] == pytest.approx(0.2)
    assert comparison["scratch"] == scratch
