"""``backbone.weights: synthetic`` end to end on the digits demo, tiny: fractals
generated, a network pretrained on them once, fine-tuned from it, and a later run (another
seed) reusing the saved weights without pretraining again."""

import logging

import pytest

from resnet_finetune.hooks import PretrainingHook
from resnet_finetune.models import load_model
from resnet_finetune.models.card import card_of, pretraining_settings
from resnet_finetune.pipeline_registry import register_pipelines
from tests.pipelines.conftest import latest, make_project, run_in, versions

PRETRAINED = "data/06_models/pretrained_model.keras"
HISTORY = "data/08_reporting/pretrain_history.csv"
FINETUNED = "data/06_models/finetuned_model.keras"
SYNTHETIC = {"categories": 3, "images_per_category": 10, "points": 2000}
RUN = {
    "backbone": {"weights": "synthetic"},
    "synthetic": SYNTHETIC,
    # 30 images, 25 of them training: batches that fit.
    "source": {"input": {"batch_size": 8}},
    "baseline": "none",
    "label_suspects": {"enabled": False},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("synthetic"))


def test_a_synthetic_start_pretrains_once_and_later_runs_reuse_it(project, caplog):
    run_in(project, "finetune", **RUN)
    folder = project / "data/01_raw/synthetic/fractals-v1-3x10-8x8-2000pts-seed0"
    assert sorted(p.name for p in folder.iterdir()) == [f"category_00{c}" for c in range(3)]
    assert len(list(folder.rglob("*.png"))) == 30
    assert len(versions(project, "data/08_reporting/pretraining_examples.png")) == 1
    [made] = versions(project, PRETRAINED)
    pretrained = card_of(load_model(latest(project, PRETRAINED)))
    assert pretrained.class_names == ["category_000", "category_001", "category_002"]
    assert pretrained.parameters["synthetic"]["categories"] == 3
    assert len(pretrained.history) == 1  # pretrain.epochs=1 (TINY)

    finetuned = card_of(load_model(latest(project, FINETUNED)))
    assert finetuned.parameters["recipe"]["start"] == "synthetic"
    assert (
        "generated fractals, 3 categories x 10 images"
        in (finetuned.parameters["recipe"]["start_reason"])
    )
    assert finetuned.parameters["backbone"]["weights"] == "synthetic"
    assert pretraining_settings(finetuned.parameters) == pretraining_settings(pretrained.parameters)

    # Another seed, same settings: the saved weights, no pretraining.
    caplog.clear()
    with caplog.at_level(logging.INFO, "resnet_finetune"):
        run_in(project, "finetune", seed=7, **RUN)
    assert f"starts from the pretrained model saved as version {made}" in caplog.text
    assert versions(project, PRETRAINED) == [made]
    assert len(versions(project, HISTORY)) == 1
    assert len(versions(project, FINETUNED)) == 2
    assert card_of(load_model(latest(project, FINETUNED))).parameters["seed"] == 7
    # The pretrain pipeline alone finds nothing to do.
    run_in(project, "pretrain", **RUN)
    assert versions(project, PRETRAINED) == [made]


class Parameters:
    """What the hook reads of a catalog: the run's parameters."""

    def __init__(self, weights: str):
        self.parameters = {"backbone": {"weights": weights}}

    def load(self, name: str) -> dict:
        assert name == "parameters"
        return self.parameters


@pytest.mark.parametrize("weights", ["none", "imagenet", "start.weights.h5"])
def test_a_start_without_pretraining_leaves_the_pretraining_nodes_out(weights):
    pipeline = register_pipelines()["finetune"]
    assert "pretrained_model" in pipeline.all_outputs()
    PretrainingHook().before_pipeline_run(pipeline, Parameters(weights))
    # Nothing saves an untrained "pretrained" model; fine-tuning runs on.
    assert not {"pretrained_model", "pretrain_history"} & pipeline.all_outputs()
    assert not any("pretraining" in node.tags for node in pipeline.nodes)
    assert {"finetune_model", "prepare_backbone"} <= {node.name for node in pipeline.nodes}
    # With the digits' pretraining they stay.
    pipeline = register_pipelines()["finetune"]
    PretrainingHook().before_pipeline_run(pipeline, Parameters("pretrain"))
    assert "pretrained_model" in pipeline.all_outputs()


@pytest.mark.parametrize(
    ("pipeline", "given", "message"),
    [
        (
            "transfer",
            {**RUN, "synthetic": {**SYNTHETIC, "seed": 5}},
            "backbone.weights='synthetic': no pretrained model with these synthetic",
        ),
        ("pretrain", {"backbone": {"weights": "none"}}, "the pretrain pipeline has nothing to do"),
    ],
)
def test_combinations_that_make_no_sense_are_refused(project, pipeline, given, message):
    with pytest.raises(ValueError, match=message):
        run_in(project, pipeline, **given)


def test_a_source_folder_with_a_synthetic_start_is_refused(project, class_folder):
    with pytest.raises(
        ValueError,
        match="backbone.weights='synthetic' pretrains on generated images .*, not on "
        "source.data_dir=",
    ):
        run_in(project, "finetune", **{**RUN, "source": {"data_dir": str(class_folder)}})
