"""Likely mislabelled images after training: ``transfer`` ranks every labelled image,
the report shows the worst, ``evaluate`` alone ranks them for the model it evaluates, and
a suspects table edited into a corrections file is applied by the next ingestion."""

import contextlib
import json

import pandas as pd
import pytest

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.quality import QualitySpec
from resnet_finetune.data.split import SplitSpec
from resnet_finetune.evaluation.label_issues import SUSPECT_COLUMNS, corrections_draft
from resnet_finetune.pipelines.ingestion.nodes import ingest_images
from tests.pipelines.conftest import TINY, latest, make_project, run_in, versions

SUSPECTS = "data/08_reporting/label_suspects.csv"
SUMMARY = "data/08_reporting/label_suspects_summary.json"
REPORT = "data/08_reporting/evaluation_report.html"


@pytest.fixture(scope="module")
def transferred(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("suspects"))
    run_in(project, "pretrain")
    run_in(project, "transfer")
    return project


def test_transfer_ranks_every_labelled_image_and_reports_the_worst(transferred):
    manifest = pd.read_csv(latest(transferred, "data/03_primary/target_manifest.csv"))
    suspects = pd.read_csv(latest(transferred, SUSPECTS), keep_default_na=False)
    summary = json.loads(latest(transferred, SUMMARY).read_text())
    # One row per labelled image of every split, each with its own split and label.
    assert list(suspects.columns) == SUSPECT_COLUMNS
    assert len(suspects) == len(manifest) == 896
    merged = suspects.merge(manifest, on="path", validate="one_to_one")
    assert (merged["split_x"] == merged["split_y"]).all()
    assert (merged["given_label"].astype(str) == merged["label"].astype(str)).all()
    assert set(suspects["split"]) == {"train", "val", "test"}
    assert suspects["rank"].tolist() == list(range(1, 897))
    # Flagged first, then the lowest label-quality score; scores are probabilities.
    flagged = suspects["flagged"].to_numpy()
    assert not (~flagged[:-1] & flagged[1:]).any()
    assert suspects["score"].between(0, 1).all()
    assert summary["images_scored"] == 896 and summary["enabled"] is True
    assert summary["flagged_by_confident_learning"] == int(flagged.sum())
    assert summary["estimated_label_error_rate"] == pytest.approx(flagged.mean())
    report = latest(transferred, REPORT).read_text()
    section = report.split("<h2>Data quality</h2>")[1].split("</section>")[0]
    assert "0 test images have a near-copy in train." in section
    assert f"Likely mislabelled: {int(flagged.sum())} of 896 labelled images" in section
    assert 'alt="Most likely mislabelled: given → suggested label, score"' in section
    top = suspects.iloc[0]
    assert top["path"] in section  # the table under the grid names the files


def test_evaluate_alone_ranks_suspects_of_the_model_it_evaluates(transferred):
    before = versions(transferred, SUSPECTS)
    run_in(transferred, "evaluate", label_suspects={"enabled": False})
    assert len(versions(transferred, SUSPECTS)) == len(before) + 1
    assert pd.read_csv(latest(transferred, SUSPECTS)).empty
    report = latest(transferred, REPORT).read_text()
    assert "not ranked (label_suspects.enabled: false)" in report
    assert "test images have a near-copy in train" in report


def test_suspects_edited_into_corrections_are_applied_by_the_next_ingestion(transferred, tmp_path):
    """docs/DATA_QUALITY.md, "Acting on it": the draft, reviewed, applied next time."""
    first = versions(transferred, SUSPECTS)[0]  # transfer's (evaluate's may be switched off)
    suspects = pd.read_csv(
        transferred / SUSPECTS / first / "label_suspects.csv",
        dtype={"given_label": str, "suggested_label": str},
        keep_default_na=False,
    )
    draft = corrections_draft(suspects.head(3).assign(flagged=True))
    draft.loc[2, ["action", "label"]] = ["exclude", ""]  # the reviewer's edit
    corrections = tmp_path / "corrections.csv"
    draft.to_csv(corrections, index=False)
    # As a run does: from the project root, the manifest's paths relative to it.
    with contextlib.chdir(transferred):
        manifest, report, _, summary, _, _ = ingest_images(
            "data/01_raw/digits_5-9",
            SplitSpec(**TINY["target"]["split"]),
            ImageChecks(),
            "none",
            str(tmp_path / "work"),
            42,
            QualitySpec(corrections=str(corrections)),
        )
    relabelled = manifest.set_index("path").loc[draft["path"][:2]]
    assert relabelled["label"].tolist() == draft["label"][:2].tolist()
    for line, (given, note) in enumerate(
        zip(suspects["given_label"][:2], relabelled["correction"]), start=2
    ):
        assert note == f"relabelled from {given!r} ({corrections} line {line})"
    assert draft["path"][2] not in set(manifest["path"])
    assert report.loc[report["path"] == draft["path"][2], "reason"].tolist() == [
        "excluded by corrections"
    ]
    assert summary["data_quality"]["relabelled_by_corrections"] == 2
    assert summary["data_quality"]["excluded_by_corrections"] == 1


def test_without_the_models_manifest_only_its_held_out_images_are_ranked(transferred, tmp_path):
    """The card keeps only the held-out rows: when the manifest of the model's version is
    gone, suspects are ranked among those, and the summary and report say so."""
    [model_version] = versions(transferred, "data/06_models/finetuned_model.keras")
    saved = transferred / "data/03_primary/target_manifest.csv" / model_version
    saved.rename(tmp_path / "aside")
    try:
        run_in(transferred, "evaluate")
    finally:
        (tmp_path / "aside").rename(saved)
    suspects = pd.read_csv(latest(transferred, SUSPECTS), keep_default_na=False)
    summary = json.loads(latest(transferred, SUMMARY).read_text())
    assert set(suspects["split"]) == {"test"} and summary["images_labelled"] == 896
    assert summary["ranked"] == (
        f"the test split only: the manifest model {model_version} was trained on, "
        f"'{saved}/target_manifest.csv', is gone: restore it (the "
        "whole data/03_primary folder of that run), or run `kedro run --pipeline finetune` "
        "to train a model on the data as it is"
    )
    report = latest(transferred, REPORT).read_text()
    assert f"of {len(suspects)} labelled images (the test split only)" in report
