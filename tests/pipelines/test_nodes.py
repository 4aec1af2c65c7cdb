"""Node functions on their own: thin, but each with behaviour worth pinning."""

import keras
import pandas as pd
import pytest

from resnet_finetune.data.augment import Augmentation
from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.input_pipeline import InputOptions
from resnet_finetune.data.quality import QualitySpec
from resnet_finetune.data.split import SplitSpec
from resnet_finetune.errors import ParameterError
from resnet_finetune.evaluation.report import EvaluateOptions
from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier
from resnet_finetune.models.card import ModelCard, attach_card
from resnet_finetune.pipelines.evaluate.nodes import compare_with_scratch, score_predictions
from resnet_finetune.pipelines.finetune.nodes import prepare_backbone
from resnet_finetune.pipelines.ingestion.nodes import (
    ingest_images,
    locate_images,
    preview_augmentation,
)
from resnet_finetune.pipelines.predict.nodes import find_images_to_predict
from tests.conftest import write_image

BACKBONE = BackboneSpec(architecture="resnet20", width=0.25, weights="pretrain")


def test_locate_images_writes_the_embedded_default_or_checks_the_folder(tmp_path):
    root = locate_images(None, {"dir": str(tmp_path / "digits"), "digits": [0, 1]})
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["0", "1"]
    assert locate_images(str(tmp_path / "digits"), {}) == root
    with pytest.raises(ParameterError, match="data_dir='/nowhere' is neither a folder nor a .csv"):
        locate_images("/nowhere", {})


def test_ingest_images_summarises_counts_left_out_files_and_class_weights(class_folder, tmp_path):
    (class_folder / "cat" / "broken.png").write_bytes(b"\x89PNG")
    for i in range(10, 20):
        write_image(class_folder / "owl" / f"{i}.png", seed=500 + i)
    split = SplitSpec(val_fraction=0.2, test_fraction=0.2)
    manifest, report, class_map, summary, weights, _ = ingest_images(
        str(class_folder),
        split,
        ImageChecks(),
        "balanced",
        str(tmp_path / "work"),
        3,
        QualitySpec(),
    )
    assert summary["num_images"] == len(manifest) == 40
    assert summary["num_left_out"] == len(report) == 1
    assert summary["left_out_by_reason"] == {"not an image": 1}
    assert summary["images_per_split"] == {"train": 24, "val": 8, "test": 8}
    assert summary["imbalance_ratio"] == 2.0 and len(class_map) == 3
    assert weights == summary["balanced_class_weights"]
    assert weights == pytest.approx({"cat": 24 / 18, "dog": 24 / 18, "owl": 24 / 36})
    *_, no_weights, _ = ingest_images(
        str(class_folder), split, ImageChecks(), "none", str(tmp_path / "w"), 3, QualitySpec()
    )
    assert no_weights == {}
    # The split follows the run's seed.
    other, *_ = ingest_images(
        str(class_folder), split, ImageChecks(), "none", str(tmp_path / "w"), 4, QualitySpec()
    )
    assert other["split"].tolist() != manifest["split"].tolist()
    with pytest.raises(ValueError, match=r"class_weights='inverse' is not allowed"):
        ingest_images(
            str(class_folder),
            split,
            ImageChecks(),
            "inverse",
            str(tmp_path / "w"),
            3,
            QualitySpec(),
        )


def test_prepare_backbone_takes_the_pretrained_backbone_or_refuses_bad_ones():
    pretrained = build_classifier(build_backbone(BACKBONE), 3, image_size=(8, 8))
    backbone = prepare_backbone(BACKBONE, pretrained, 0)
    assert backbone is pretrained.get_layer("backbone")
    grey = build_classifier(build_backbone(BACKBONE, channels=1), 3, image_size=(8, 8))
    with pytest.raises(ValueError, match="1-channel inputs; the images are RGB"):
        prepare_backbone(BACKBONE, grey, 0)
    headless = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="neither a 'backbone' layer nor a global pooling"):
        prepare_backbone(BACKBONE, headless, 0)


def test_score_predictions_reads_the_prediction_table_with_the_models_class_names():
    table = pd.DataFrame(
        {
            "path": ["a", "b", "c", "d"],
            "split": "test",
            "true_label": ["x & y", "x & y", "猫", "猫"],
            "p_x & y": [0.9, 0.4, 0.2, 0.3],
            "p_猫": [0.1, 0.6, 0.8, 0.7],
        }
    )
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    card = ModelCard(
        class_names=["x & y", "猫"],
        image_size=[8, 8],
        resize="squash",
        preprocessing="tf",
        data={
            "held_out_split": "test",
            "selection_split": "val",
            "held_out_sha256": "h",
            "dataset_sha256": "d",
            "summary": {"split_origin": {"test": "declared test"}},
        },
    )
    options = EvaluateOptions(top_k=1)
    metrics, figure = score_predictions(attach_card(model, card), table, options)
    assert metrics["accuracy"] == 0.75 and metrics["evaluated_split"] == "test"
    assert (
        metrics["selection_split"] == "val" and metrics["split_origin"]["test"] == "declared test"
    )
    assert metrics["per_class"]["x & y"]["recall"] == 0.5
    assert len(figure.axes) >= 2


def test_compare_with_scratch_reports_the_gain_on_the_same_images():
    finetuned = {
        "evaluated_split": "test",
        "num_test_images": 10,
        "held_out_sha256": "h",
        "accuracy": 0.9,
        "top_k_accuracy": 1.0,
        "macro_f1": 0.8,
    }
    scratch = {"accuracy": 0.7, "top_k_accuracy": 0.9, "macro_f1": 0.75, "held_out_sha256": "h"}
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    attach_card(
        model,
        ModelCard(
            ["a", "b"],
            [224, 224],
            "crop",
            "tf",
            parameters={
                "backbone": {"architecture": "resnet18", "width": 0.5},
                "baseline": {"image_size": [112, 112]},
            },
            history=pd.DataFrame({"loss": [1.0, 0.5], "seconds": [2.0, 1.5]}),
        ),
    )
    comparison = compare_with_scratch(finetuned, scratch, model)
    assert comparison["baseline"] == {
        "network": "resnet18 width 0.5",
        "image_size": [112, 112],
        "epochs": 2,
        "seconds": 3.5,
    }
    assert comparison["gain_from_pretraining"]["accuracy"] == pytest.approx(0.2)
    assert comparison["scratch"] == {
        k: scratch[k] for k in ("accuracy", "top_k_accuracy", "macro_f1")
    }
    with pytest.raises(ValueError, match="different images"):
        compare_with_scratch(finetuned, {**scratch, "held_out_sha256": "other"}, model)


def test_augmentation_preview_shows_every_class_and_mixed_labels(class_folder, tmp_path):
    split = SplitSpec(val_fraction=0.2, test_fraction=0)
    manifest, _, class_map, _, _, _ = ingest_images(
        str(class_folder), split, ImageChecks(), "none", str(tmp_path / "work"), 0, QualitySpec()
    )
    figure = preview_augmentation(
        manifest, class_map, InputOptions((8, 8), batch_size=4), Augmentation(rotation=0.1), 0, 6
    )
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles == ["cat", "dog", "owl"] * 2
    mixed = preview_augmentation(
        manifest, class_map, InputOptions((8, 8), batch_size=4), Augmentation(mixup=0.4), 0, 6
    )
    assert any("%" in axis.get_title() for axis in mixed.axes)


def test_prediction_needs_a_folder_with_a_readable_image(tmp_path):
    with pytest.raises(ValueError, match="predict.data_dir is not set"):
        find_images_to_predict(None, ImageChecks(), str(tmp_path))
    with pytest.raises(FileNotFoundError, match="predict.data_dir='/nowhere' is not a folder"):
        find_images_to_predict("/nowhere", ImageChecks(), str(tmp_path))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no image here")
    with pytest.raises(ValueError, match="holds no readable image"):
        find_images_to_predict(str(tmp_path / "empty"), ImageChecks(), str(tmp_path))
