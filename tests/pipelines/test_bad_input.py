"""Bad parameters stop a run before any node works, with a message naming the key."""

import json

import pytest

from resnet_finetune.errors import ParameterError
from resnet_finetune.training import TrainingDiverged
from tests.conftest import write_image
from tests.pipelines.conftest import make_project, run_in


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        (
            {"target": {"data_dir": "/no/such/folder"}},
            ParameterError,
            "target.data_dir='/no/such/folder' is neither a folder nor a .csv list",
        ),
        (
            {"backbone": {"weights": "imagenet21k"}},
            ValueError,
            "backbone.weights='imagenet21k' is not allowed",
        ),
        (
            {"backbone": {"weights": "missing.keras"}},
            ParameterError,
            "backbone.weights='missing.keras': no such file",
        ),
        (
            {"backbone": {"architecture": "resnet51"}},
            ValueError,
            "backbone.architecture='resnet51' is not allowed",
        ),
        (
            {"target": {"input": {"image_size": [2, 2]}}},
            ValueError,
            r"target.input.image_size=\[2, 2\] is smaller than resnet20's total stride 4",
        ),
        (
            {"target": {"augmentation": {"rotate": 0.1}}},
            ValueError,
            r"target.augmentation.rotate: unknown key \(a typo\?\); allowed: \[.*'rotation'",
        ),
        (
            {"source": {"input": {"resize": "stretch"}}},
            ValueError,
            r"source.input.resize='stretch' is not allowed; allowed: "
            r"\['squash', 'centre_crop', 'pad'\]",
        ),
        (
            {"target": {"class_weights": "inverse"}},
            ValueError,
            r"target.class_weights='inverse': input should be 'none' or 'balanced'",
        ),
        (
            {"target": {"validation": {"min_side": 0}}},
            ValueError,
            r"target.validation.min_side=0 must be an integer >= 1",
        ),
        (
            {"target": {"augmentation": {"run_in": "gpu"}}},
            ValueError,
            r"target.augmentation.run_in='gpu' is not allowed",
        ),
        (
            {"compute": {"precision": "half"}},
            ValueError,
            r"compute.precision='half' is not allowed",
        ),
        (
            {"compute": {"devices": 2}},
            ValueError,
            r"compute.devices: unknown key \(a typo\?\); allowed: \['deterministic'",
        ),
        (
            {"pretrain": {"lr": 0.1}},
            ValueError,
            r"pretrain.lr: unknown key \(a typo\?\); allowed: \['early_stopping_patience'",
        ),
        (
            {"finetune": {"training": {"schedule": "step"}}},
            ValueError,
            r"finetune.training.schedule='step' is not allowed; allowed: \['cosine', 'one_cycle', "
            r"'plateau'\]",
        ),
        (
            {"baseline": {"epochs": 0}},
            ValueError,
            r"baseline: epochs=0 must be",
        ),
        (
            {"baseline": {"label_smoothing": 1.5}},
            ValueError,
            r"baseline: label_smoothing=1.5 must lie in \[0.0, 1.0\)",
        ),
        (
            {"backbone": {"widht": 0.5}},
            ValueError,
            r"backbone.widht: unknown key \(a typo\?\); allowed: \['architecture', 'bn_momentum'",
        ),
        (
            {"pretrian": {"epochs": 3}},
            ValueError,
            r"pretrian: unknown key \(a typo\?\); allowed: \['backbone', 'baseline'",
        ),
        ({"seed": "42a"}, ValueError, r"seed='42a': input should be a valid integer"),
        (
            {"backbone": {"width": "wide"}},
            ValueError,
            r"backbone.width='wide': input should be a valid number",
        ),
        (
            {"target": {"split": {"val_fraction": 1.5}}},
            ValueError,
            r"target.split.val_fraction=1.5 must lie in \[0.0, 1.0\)",
        ),
        (
            {"finetune": {"phases": []}},
            ValueError,
            r"finetune.phases=\[\]: list should have at least 1 item",
        ),
        (
            {"finetune": {"phases": [{"epochs": 1, "learning_rate": 0.1, "unfreeze_stages": -1}]}},
            ValueError,
            r"finetune.phases\[0\]: unfreeze_stages=-1 must be 'all' or an integer >= 0",
        ),
        (
            {"export": {"float_agreement": 2}},
            ValueError,
            r"export.float_agreement=2.0 must lie in \(0.0, 1.0\]",
        ),
        (
            {"predict": {"min_confidence": 0}},
            ValueError,
            r"predict.min_confidence=0.0 must lie in \(0.0, 1.0\]",
        ),
        (
            {"predict": {"tta": "mirror"}},
            ValueError,
            r"predict.tta='mirror' is not allowed; allowed: \['none', 'flip'\]",
        ),
        (
            {"checkpoints": {"every_n_steps": 0}},
            ValueError,
            r"checkpoints.every_n_steps=0 must be an integer >= 1 or null",
        ),
        (
            {"compute": {"jit_compile": "yes"}},
            ValueError,
            r"compute.jit_compile='yes' is not allowed; allowed: 'auto', true, false",
        ),
        (
            {"pretrain": {"schedule": "plateau", "warmup_epochs": 1}},
            ValueError,
            r"pretrain.schedule='plateau' takes no warm-up: set warmup_epochs to 0",
        ),
    ],
)
def test_bad_parameter_stops_before_any_work(run_pipeline, project, params, error, message):
    before = sorted(p for p in (project / "data").rglob("*")) if (project / "data").exists() else []
    with pytest.raises(error, match=message):
        run_pipeline("finetune", **params)
    after = sorted(p for p in (project / "data").rglob("*")) if (project / "data").exists() else []
    assert after == before


def test_empty_and_one_class_folders_are_refused(run_pipeline, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="target.data_dir=.*holds no image with a class"):
        run_pipeline("finetune", target={"data_dir": str(empty)})
    write_image(tmp_path / "one" / "cats" / "a.png")
    with pytest.raises(ValueError, match="target.data_dir=.*has a single class"):
        run_pipeline("finetune", target={"data_dir": str(tmp_path / "one")})


def test_a_weights_file_of_another_model_stops_the_run_before_any_work(run_pipeline, tmp_path):
    import keras

    path = tmp_path / "other.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    with pytest.raises(ValueError, match=r"other.h5' does not fit backbone: 0 of 38 layers"):
        run_pipeline("finetune", backbone={"weights": str(path)})


def test_the_card_records_the_weights_file_a_model_started_from(tmp_path):
    import hashlib

    from resnet_finetune.models import BackboneSpec, build_backbone, load_model
    from resnet_finetune.models.card import card_of
    from tests.pipelines.conftest import TINY, latest

    path = tmp_path / "start.weights.h5"
    build_backbone(BackboneSpec(**TINY["backbone"])).save_weights(path)
    fresh = make_project(tmp_path / "project")
    run_in(fresh, "transfer", backbone={"weights": str(path)})
    card = card_of(load_model(latest(fresh, "data/06_models/finetuned_model.keras")))
    assert card.data["start_weights_path"] == str(path.resolve())
    assert card.data["start_weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_transfer_without_a_pretrained_model(tmp_path):
    fresh = make_project(tmp_path)
    with pytest.raises(ValueError, match="backbone.weights='pretrain' needs a pretrained model"):
        run_in(fresh, "transfer")
    # Weights that do not come from pretraining need no pretrained model at all.
    run_in(fresh, "transfer", backbone={"weights": "none"})
    assert not (fresh / "data/06_models/pretrained_model.keras").exists()
    assert (fresh / "data/06_models/finetuned_model.keras").is_dir()


def test_predict_without_a_finetuned_model_says_what_to_run(tmp_path):
    fresh = make_project(tmp_path / "fresh")
    write_image(tmp_path / "new" / "a.png")
    with pytest.raises(ValueError, match="no fine-tuned model has been saved yet"):
        run_in(fresh, "predict", predict={"data_dir": str(tmp_path / "new")})
    assert not (fresh / "data").exists()


def test_an_unknown_model_version_is_named_with_the_newest_that_exist(tmp_path):
    fresh = make_project(tmp_path / "fresh")
    write_image(tmp_path / "new" / "a.png")
    saved = [f"2026-01-0{day}T00.00.00.000Z" for day in range(1, 8)]
    for version in saved:
        model = fresh / "data/06_models/finetuned_model.keras" / version / "finetuned_model.keras"
        model.parent.mkdir(parents=True)
        model.touch()
    newest = ", ".join(reversed(saved[2:]))
    message = f"version '2025-nope' of finetuned_model does not exist .*{newest} \\(and 2 older\\)"
    with pytest.raises(ValueError, match=message):
        run_in(
            fresh,
            "predict",
            load_versions={"finetuned_model": "2025-nope"},
            predict={"data_dir": str(tmp_path / "new")},
        )


def test_a_batch_larger_than_the_training_set_is_refused_before_training(run_pipeline):
    # TINY keeps 6 training images per class: 30 in all.
    with pytest.raises(
        ValueError,
        match=r"input.batch_size=64 \(× replicas: 64\) is larger than the 30 training images",
    ):
        run_pipeline("finetune", target={"input": {"batch_size": 64}})


def test_a_diverging_phase_fails_the_run_and_leaves_nothing_finished(tmp_path):
    fresh = make_project(tmp_path)
    with pytest.raises(
        TrainingDiverged,
        match=r"diverged at epoch 1: .* Lower this training's learning_rate \(now 1e\+06\)",
    ):
        run_in(
            fresh,
            "transfer",
            backbone={"weights": "none"},
            finetune={"phases": [{"epochs": 2, "learning_rate": 1e6}]},
        )
    assert not (fresh / "data/06_models/finetuned_model.keras").exists()
    states = (fresh / "data/02_intermediate/checkpoints").rglob("state.json")
    assert not any(json.loads(state.read_text())["finished"] for state in states)
