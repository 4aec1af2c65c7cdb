"""The recipe (resnet_finetune.recipe): `auto` values chosen for the data, user values
winning, the demo's recipe unchanged, ImageNet weights or a loud from-scratch fallback."""

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.manifest import build_manifest
from resnet_finetune.data.split import SplitSpec
from resnet_finetune.models import BackboneSpec
from resnet_finetune.models.resnet import WeightsUnavailable
from resnet_finetune.recipe import (
    BASELINE_BUDGET_SHARE,
    CPU_BUDGET_MINUTES,
    RUN_OVERHEAD_SECONDS,
    describe,
    describe_baseline,
    resolve_recipe,
)
from resnet_finetune.schema import validate_parameters
from resnet_finetune.training.budget import Speed, format_minutes
from tests.conftest import write_image

ROOT = Path(__file__).resolve().parents[1]


def base_parameters() -> dict:
    """conf/base merged as Kedro does (each top-level key lives in one file)."""
    parameters = {}
    for path in sorted((ROOT / "conf" / "base").glob("parameters*.yml")):
        parameters.update(yaml.safe_load(path.read_text()) or {})
    return parameters


def offline(*_):
    raise WeightsUnavailable(
        "offline: resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 "
        "could not be downloaded (Name or service not known)"
    )


def fast(_parameters) -> Speed:
    """A machine on which every run fits any budget (no timing in tests)."""
    return Speed(forward=1e-6, train=2e-6, baseline_train=1e-6)


def slow(_parameters) -> Speed:
    """0.1 s per image forward, 0.3 s a training step: the recipe's epochs cannot fit."""
    return Speed(forward=0.1, train=0.3, baseline_train=0.05)


def imagenet(*_):
    return "/keras/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


def with_target(data_dir, **extra) -> dict:
    parameters = base_parameters()
    parameters["target"]["data_dir"] = str(data_dir)
    for key, value in extra.items():
        node = parameters
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    return parameters


@pytest.fixture
def photos(tmp_path) -> Path:
    """Two classes of 100 small JPEG "photos" each, no declared splits."""
    root = tmp_path / "photos"
    for c, label in enumerate(("ants", "bees")):
        for i in range(100):
            write_image(root / label / f"{i}.jpg", size=(40, 30), seed=1000 * c + i)
    return root


def test_demo_recipe_is_unchanged():
    """target.data_dir null: exactly the values the demo's results were measured with."""
    resolved = resolve_recipe(base_parameters(), fetch=offline)
    validate_parameters(resolved)
    assert resolved["backbone"] == {
        "weights": "pretrain",
        "architecture": "resnet20",
        "variant": "v1",
        "width": 1.0,
        "bn_momentum": 0.9,
        "preprocessing": "tf",
    }
    assert resolved["source"]["input"]["image_size"] == [16, 16]
    target = resolved["target"]
    assert target["input"] == {
        "image_size": [16, 16],
        "resize": "squash",
        "batch_size": 16,
        "cache": "memory",
        "shuffle_buffer": 2048,
    }
    assert target["split"] == {
        "val_fraction": 0.15,
        "test_fraction": 0.15,
        "train_per_class": 20,
        "val_per_class": 10,
    }
    augmentation = target["augmentation"]
    assert (
        augmentation["flip"],
        augmentation["rotation"],
        augmentation["zoom"],
        augmentation["translation"],
        augmentation["random_resized_crop"],
    ) == ("none", 0.04, 0.1, 0.1, None)
    assert resolved["finetune"]["training"] == {
        "optimizer": "adamw",
        "weight_decay": 0.0005,
        "early_stopping_patience": 8,
    }
    assert resolved["finetune"]["phases"] == [
        {"name": "frozen backbone", "unfreeze_stages": 0, "epochs": 10, "learning_rate": 0.01},
        {
            "name": "backbone unfrozen",
            "unfreeze_stages": "all",
            "epochs": 30,
            "learning_rate": 0.001,
            "train_batchnorm": True,
        },
    ]
    assert resolved["baseline"] == {"learning_rate": 0.003}
    assert resolved["recipe"]["start"] == "pretrain"


def test_offline_folder_trains_from_scratch_on_every_image(photos, tmp_path, caplog):
    """No internet: one warning naming the reason and the alternatives, then the
    from-scratch recipe; fraction splits use every image (100 per class → 70 train)."""
    resolved = resolve_recipe(with_target(photos), fetch=offline)
    validate_parameters(resolved)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "offline" in warnings[0] and "backbone.weights=/path/to/" in warnings[0]
    assert "backbone.weights=none" in warnings[0]
    assert resolved["recipe"]["start"] == "scratch"
    assert resolved["backbone"]["weights"] == "none"
    assert resolved["backbone"]["architecture"] == "resnet18"
    assert resolved["target"]["split"]["train_per_class"] is None
    assert resolved["target"]["augmentation"]["flip"] == "horizontal"
    assert resolved["target"]["augmentation"]["random_resized_crop"] == [0.35, 1.0]
    side = resolved["target"]["input"]["image_size"]
    assert side == [32, 32]  # the images' short side (30 px), at least the stride 32
    assert resolved["target"]["input"]["cache"] == "memory"
    assert resolved["finetune"]["phases"][0]["epochs"] >= 10

    split = resolved["target"]["split"]
    manifest, _, _ = build_manifest(
        photos, SplitSpec(**split), ImageChecks(), tmp_path / "converted"
    )
    counts = manifest.groupby(["label", "split"]).size().unstack()
    assert len(manifest) == 200
    assert counts["train"].tolist() == [70, 70]


def test_a_value_given_wins_over_the_recipe(photos):
    resolved = resolve_recipe(
        with_target(
            photos,
            **{
                "target.input.image_size": [64, 48],
                "target.augmentation.flip": "none",
                "target.split.train_per_class": 5,
            },
        ),
        fetch=offline,
    )
    assert resolved["target"]["input"]["image_size"] == [64, 48]
    assert resolved["target"]["augmentation"]["flip"] == "none"
    assert resolved["target"]["split"]["train_per_class"] == 5
    assert "target.input.image_size" not in resolved["recipe"]["chosen"]


def test_explicit_imagenet_offline_stops_before_work_naming_reason_and_alternatives(photos):
    with pytest.raises(
        ValueError, match=r"offline.*weights_tf_dim_ordering.*backbone.weights=none"
    ):
        resolve_recipe(with_target(photos, **{"backbone.weights": "imagenet"}), fetch=offline)


def test_pretraining_on_the_digits_for_photos_is_refused(photos):
    with pytest.raises(ValueError, match="source.data_dir"):
        resolve_recipe(with_target(photos, **{"backbone.weights": "pretrain"}), fetch=offline)


def test_memory_cache_only_when_it_fits(photos):
    resolved = resolve_recipe(with_target(photos), fetch=offline, memory=10_000)
    assert resolved["target"]["input"]["cache"] == "disk"


def test_a_class_of_three_images_stops_naming_the_class_and_minimum(photos, tmp_path):
    for i in range(3):
        write_image(photos / "wasps" / f"{i}.jpg", size=(40, 30), seed=5000 + i)
    resolved = resolve_recipe(with_target(photos), fetch=offline)
    try:
        manifest, _, _ = build_manifest(
            photos,
            SplitSpec(**resolved["target"]["split"]),
            ImageChecks(),
            tmp_path / "converted",
        )
    except ValueError as error:
        assert "'wasps'" in str(error) and "at least" in str(error)
    else:
        wasps = manifest[manifest["label"] == "wasps"]
        assert set(wasps["split"]) == {"train", "val", "test"}


def test_imagenet_weights_file_selects_224_caffe_and_matches_keras_applications(photos, tmp_path):
    """A keras.applications-layout ResNet-50 file given as the start: the recipe picks
    ResNet-50 V1, 224x224 and caffe preprocessing by itself, and the backbone computes
    what keras.applications does with that file."""
    import keras

    from resnet_finetune.models import BackboneSpec, backbone_from_weights
    from resnet_finetune.models.classifier import ImagePreprocessing

    keras.utils.set_random_seed(1)
    reference = keras.applications.ResNet50(weights=None, include_top=False)
    path = tmp_path / "resnet50_imagenet.weights.h5"
    reference.save_weights(path)

    resolved = resolve_recipe(
        with_target(photos, **{"backbone.weights": str(path)}), fetch=offline, speed=fast
    )
    validate_parameters(resolved)
    assert resolved["recipe"]["start"] == "imagenet"
    assert resolved["backbone"]["architecture"] == "resnet50"
    assert resolved["backbone"]["preprocessing"] == "caffe"
    assert resolved["backbone"]["width"] == 1.0
    assert resolved["target"]["input"]["image_size"] == [224, 224]
    assert resolved["finetune"]["phases"][0]["unfreeze_stages"] == 0

    backbone = backbone_from_weights(BackboneSpec(**resolved["backbone"]))
    images = np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3)).astype("uint8")
    ours = backbone(ImagePreprocessing("caffe")(images))
    theirs = keras.ops.mean(
        reference(keras.applications.resnet.preprocess_input(images.astype("float32"))),
        axis=(1, 2),
    )
    assert np.max(np.abs(np.asarray(ours) - np.asarray(theirs))) <= 1e-5


def test_pretraining_is_skipped_with_a_reason_when_nothing_uses_it(caplog):
    """backbone.weights other than pretrain: the pretrain node trains nothing, says why,
    and passes the untrained model and an empty history on."""
    from resnet_finetune.pipelines.pretrain.nodes import train_model

    sentinel = object()
    with caplog.at_level(logging.INFO, "resnet_finetune"):
        model, history = train_model(
            sentinel, None, {}, {}, {}, {}, 42, BackboneSpec("resnet50", weights="none")
        )
    assert model is sentinel and history.empty
    assert "pretraining skipped: backbone.weights='none'" in caplog.text


def test_pretrained_start_gets_the_from_scratch_recipe_as_baseline(photos):
    """ImageNet start: the baseline is the half-width ResNet-18 at the scratch size with
    its own epochs (200 images: 140 train → 57), not a second ResNet-50 at 224."""
    resolved = resolve_recipe(with_target(photos), fetch=imagenet, speed=fast)
    validate_parameters(resolved)
    assert resolved["backbone"]["architecture"] == "resnet50"
    baseline = resolved["baseline"]
    assert (baseline["architecture"], baseline["width"]) == ("resnet18", 0.5)
    assert (baseline["image_size"], baseline["preprocessing"]) == ([32, 32], "tf")
    assert baseline["epochs"] == 57  # 8000 images seen / 140
    assert "from-scratch recipe as baseline" in resolved["recipe"]["chosen"]["baseline.epochs"]
    assert "resnet18 width 0.5 from scratch at [32, 32] px, 57 epochs" in describe(resolved)


def test_a_given_baseline_key_wins_and_none_skips_the_baseline(photos):
    given = resolve_recipe(
        with_target(photos, **{"baseline.architecture": "resnet34"}), fetch=imagenet, speed=fast
    )
    assert given["baseline"]["architecture"] == "resnet34"
    assert "baseline.architecture" not in given["recipe"]["chosen"]
    parameters = with_target(photos)
    parameters["baseline"] = "none"
    skipped = resolve_recipe(parameters, fetch=imagenet, speed=fast)
    validate_parameters(skipped)
    assert skipped["baseline"] == "none"
    assert "baseline:     none" in describe(skipped)


def test_estimate_printed_and_recorded_and_fast_machine_keeps_the_full_recipe(photos):
    resolved = resolve_recipe(with_target(photos), fetch=imagenet, speed=fast)
    estimate = resolved["recipe"]["estimate"]
    assert estimate["budget_minutes"] == CPU_BUDGET_MINUTES  # auto on a CPU
    assert estimate["seconds"] == RUN_OVERHEAD_SECONDS  # training itself: no time at all
    line = f"{format_minutes(RUN_OVERHEAD_SECONDS)} on this CPU (budget {CPU_BUDGET_MINUTES} min"
    assert f"estimate:     {line}" in describe(resolved)
    assert [p["epochs"] for p in resolved["finetune"]["phases"]] == [7, 23]  # untouched


def test_slow_machine_shortens_what_the_recipe_chose_to_fit_the_budget(photos):
    resolved = resolve_recipe(with_target(photos), fetch=imagenet, speed=slow)
    phases, baseline = resolved["finetune"]["phases"], resolved["baseline"]
    # 0.1 s an image forward: the fixed costs (90 s, then one view of 170 images'
    # features and 200 suspects: 127 s) and one epoch of the top stage (24 s) pass the
    # phases' 3/4 of 3 minutes, so the smallest run, the head alone on one view; the
    # baseline gets its 45 s (7.5 s an epoch)
    assert resolved["recipe"]["estimate"]["seconds"] == pytest.approx(127 + 45, abs=1)
    assert [(p["unfreeze_stages"], p["feature_views"]) for p in phases] == [(0, 1)]
    assert baseline["epochs"] == 6
    assert f"{CPU_BUDGET_MINUTES}-min budget" in resolved["recipe"]["chosen"]["finetune.phases"]


def test_a_run_that_trains_nothing_does_not_time_the_machine(photos):
    """predict, evaluate, export: the recipe's values are chosen (the schema needs them),
    but this machine is not timed and no estimate is made."""

    def never(_):
        raise AssertionError("timed the machine for a run that trains nothing")

    resolved = resolve_recipe(with_target(photos), fetch=imagenet, speed=never, trains=False)
    validate_parameters(resolved)
    assert resolved["finetune"]["time_budget_minutes"] is None
    assert resolved["recipe"]["chosen"]["finetune.time_budget_minutes"] == "this run trains nothing"
    assert "estimate" not in resolved["recipe"]


def midway(parameters) -> Speed:
    """A machine on which the recipe's 23 epochs of the top stages just miss 4 minutes:
    0.01 s per image forward, 0.1 s a step with every stage learning (0.055 s with two
    stages: 8 s an epoch of 140 images and 30 validating); the baseline 3 s an epoch,
    timed only when it runs."""
    runs = isinstance(parameters["baseline"], dict)
    return Speed(forward=0.01, train=0.1, baseline_train=0.02 if runs else 0.0)


def test_the_budget_is_shared_with_the_baseline_only_when_it_runs(photos):
    """`finetune` (the baseline runs): the phases and the run's fixed costs get 3/4 of a
    4-minute budget, the baseline at most 1/4; `transfer` (no baseline): the phases get all
    of it, and the baseline is neither timed nor counted."""
    budget = 4 * 60
    four_minutes = with_target(photos, **{"finetune.time_budget_minutes": 4})
    # The head's features (2 views of 140 images, 30 validating), the suspects' pass (200)
    fixed = RUN_OVERHEAD_SECONDS + (2 * 140 + 30 + 200) * 0.01
    shared = resolve_recipe(four_minutes, fetch=imagenet, speed=midway)
    estimate = shared["recipe"]["estimate"]
    assert shared["finetune"]["phases"][1]["epochs"] == 10  # (180 - 95) s / 8 s an epoch
    assert shared["baseline"]["epochs"] == 20  # 60 s / 3 s an epoch, of the 57 chosen
    assert estimate["baseline_seconds"] == 20 * 3 <= BASELINE_BUDGET_SHARE * budget
    phases_seconds = estimate["seconds"] - estimate["baseline_seconds"]
    assert phases_seconds == pytest.approx(fixed + 10 * 8, abs=1)
    assert phases_seconds <= (1 - BASELINE_BUDGET_SHARE) * budget

    alone = resolve_recipe(four_minutes, fetch=imagenet, speed=midway, baseline_runs=False)
    estimate = alone["recipe"]["estimate"]
    assert alone["finetune"]["phases"][1]["epochs"] == 18  # (240 - 95) s / 8 s an epoch
    assert "baseline_seconds" not in estimate
    assert estimate["seconds"] == pytest.approx(fixed + 18 * 8, abs=1)
    assert estimate["seconds"] <= budget
    assert alone["baseline"]["epochs"] == 57  # not run: not sized either, and said
    assert "baseline:     not trained by this run" in describe(alone)
    assert "resnet18" in describe_baseline(shared)
    # The baseline's set-up is paid once, not per epoch: (60 - 15) s / 3 s an epoch
    set_up = resolve_recipe(
        four_minutes,
        fetch=imagenet,
        speed=lambda p: dataclasses.replace(midway(p), baseline_setup=15.0),
    )
    assert set_up["baseline"]["epochs"] == 15
    # A larger budget: more epochs.
    given = with_target(photos, **{"finetune.time_budget_minutes": 8})
    longer = resolve_recipe(given, fetch=imagenet, speed=midway)
    assert longer["finetune"]["phases"][1]["epochs"] == 23  # (360 - 95) s: all of them fit
    assert longer["baseline"]["epochs"] == 40  # 120 s / 3 s


def test_phases_and_epochs_a_user_gives_win_over_the_budget(photos):
    phases = [{"name": "all", "unfreeze_stages": "all", "epochs": 40, "learning_rate": 0.001}]
    resolved = resolve_recipe(
        with_target(photos, **{"finetune.phases": phases, "baseline.epochs": 30}),
        fetch=imagenet,
        speed=slow,
    )
    assert resolved["finetune"]["phases"] == phases
    assert resolved["baseline"]["epochs"] == 30
    assert resolved["recipe"]["estimate"]["seconds"] > CPU_BUDGET_MINUTES * 60  # said, not obeyed
