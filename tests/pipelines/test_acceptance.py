"""Slow end-to-end runs on real JPEGs; select with ``pytest -m acceptance``."""

import json
from pathlib import Path

import pandas as pd
import pytest

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.input_pipeline import image_dataset
from resnet_finetune.data.manifest import build_manifest
from resnet_finetune.data.split import SplitSpec
from tests.pipelines.conftest import ROOT, latest, make_project, run_in

HYMENOPTERA = ROOT.parent / "shared" / "datasets" / "hymenoptera"


@pytest.mark.acceptance
@pytest.mark.skipif(not HYMENOPTERA.is_dir(), reason="needs ../shared/datasets/hymenoptera")
def test_finetune_on_hymenoptera_runs_to_a_report(tmp_path: Path):
    project = make_project(tmp_path)
    # The README's command for real photographs, at default training lengths.
    run_in(
        project,
        "finetune",
        target={
            "data_dir": str(HYMENOPTERA),
            "input": {"image_size": [32, 32]},
            "augmentation": {"flip": "horizontal"},
        },
        tiny=False,
    )
    manifest = pd.read_csv(latest(project, "data/03_primary/target_manifest.csv"))
    # The folder's own train/val split is respected; the palette GIF is kept, as RGB input.
    assert manifest.groupby("split").size().to_dict() == {"train": 245, "val": 153}
    assert manifest.loc[manifest["path"].str.endswith("imageNotFound.gif"), "mode"].tolist() == [
        "P"
    ]
    metrics = json.loads(latest(project, "data/08_reporting/metrics.json").read_text())
    assert metrics["evaluated_split"] == "val" and metrics["num_test_images"] == 153
    assert set(metrics["per_class"]) == {"ants", "bees"}


@pytest.mark.acceptance
@pytest.mark.skipif(not HYMENOPTERA.is_dir(), reason="needs ../shared/datasets/hymenoptera")
def test_hymenoptera_ingests_with_its_split_and_its_palette_image_converted(tmp_path: Path):
    manifest, report, class_map = build_manifest(
        HYMENOPTERA, SplitSpec(), ImageChecks(), tmp_path / "converted"
    )
    present = [p for p in HYMENOPTERA.rglob("*") if p.is_file()]
    assert len(manifest) + len(report) == len(present) == 398 and report.empty
    assert manifest.groupby("split").size().to_dict() == {"train": 245, "val": 153}
    assert class_map == {"ants": 0, "bees": 1}
    converted = manifest[manifest["read_path"] != manifest["path"]]
    assert converted["path"].map(lambda p: Path(p).name).tolist() == ["imageNotFound.gif"]
    assert converted["mode"].tolist() == ["P"]
    (pixels,) = image_dataset(
        converted.assign(split="train"),
        "train",
        image_size=(32, 32),
        batch_size=1,
        shuffle=False,
        seed=0,
    ).take(1)
    assert pixels[0].shape == (1, 32, 32, 3)
