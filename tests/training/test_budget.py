"""The run's duration from measured speeds, and epochs that fit a budget (no timing)."""

import pytest

from resnet_finetune.training.budget import Speed, fit_budget, format_minutes, run_seconds

SPEED = Speed(forward=0.01, train=0.04, baseline_train=0.02)
PHASES = [
    {"name": "head", "unfreeze_stages": 0, "epochs": 3, "feature_views": 4},
    {"name": "top", "unfreeze_stages": 2, "epochs": 5},
]


def estimate(phases, baseline_epochs):
    return run_seconds(
        SPEED,
        train_images=100,
        validation_images=20,
        test_images=30,
        phases=phases,
        baseline_epochs=baseline_epochs,
    )


def test_run_seconds_adds_cached_frozen_phase_unfrozen_epochs_and_baseline():
    evaluation = 30 * 0.01  # the test images, once
    frozen = (3 * 100 + 20) * 0.01  # 4 views asked, at most one per epoch: 3; once
    top = 5 * (100 * (0.01 + 0.03 * 2 / 4) + 20 * 0.01)  # half the backbone learning
    baseline = 10 * (100 + 20 / 3) * 0.02
    assert estimate(PHASES, 10) == pytest.approx(evaluation + frozen + top + baseline)
    # 300 epochs cost no more than its 4 views; without feature_views, Phase's default (2)
    assert estimate([{**PHASES[0], "epochs": 300}], 0) == pytest.approx(
        evaluation + (4 * 100 + 20) * 0.01
    )
    default = {"unfreeze_stages": 0, "epochs": 300}
    assert estimate([default], 0) == pytest.approx(evaluation + (2 * 100 + 20) * 0.01)
    # label suspects: every labelled image through the fine-tuned network, in the pass
    # whose test probabilities the scoring reuses
    ranked = run_seconds(
        SPEED, train_images=100, validation_images=20, test_images=30, phases=[], ranked_images=150
    )
    assert ranked == pytest.approx(150 * 0.01)


def test_each_pass_adds_its_set_up_once():
    setups = Speed(
        forward=0.01,
        train=0.04,
        baseline_train=0.02,
        forward_setup=5,
        train_setup=20,
        baseline_setup=15,
    )
    plain = estimate(PHASES, 10)
    with_setups = run_seconds(
        setups,
        train_images=100,
        validation_images=20,
        test_images=30,
        phases=PHASES,
        baseline_epochs=10,
    )
    # the feature pass, the unfrozen phase's training and validation, the pass after
    # training, the baseline's training
    assert with_setups - plain == pytest.approx(5 + (20 + 5) + 5 + 15)
    no_epochs = [PHASES[0], {**PHASES[1], "epochs": 0}]
    assert run_seconds(
        setups, train_images=100, validation_images=20, test_images=30, phases=no_epochs
    ) == pytest.approx(estimate(no_epochs, 0) + 5 + 5)


def test_fit_budget_keeps_a_run_that_fits_and_shortens_one_that_does_not():
    assert fit_budget(1000, estimate, PHASES, 10) == (PHASES, 10)
    phases, baseline_epochs = fit_budget(22, estimate, PHASES, 10)
    assert phases[0] == PHASES[0]  # the frozen phase costs its forward passes only
    assert (phases[1]["epochs"], phases[1]["unfreeze_stages"], baseline_epochs) == (2, 2, 5)
    assert estimate(phases, baseline_epochs) <= 22


def test_fit_budget_unfreezes_fewer_stages_then_caches_one_view_then_trains_the_head_alone():
    # 3.5 s fixed + one epoch of two stages (2.7 s) + one baseline epoch (2.13 s) > 8 s;
    # with one stage (1.95 s) it fits.
    assert fit_budget(8.5, estimate, PHASES, 10)[0][1]["unfreeze_stages"] == 2
    phases, baseline_epochs = fit_budget(8, estimate, PHASES, 10)
    assert (phases[1]["epochs"], phases[1]["unfreeze_stages"], baseline_epochs) == (1, 1, 1)
    # Without the baseline, 5 s: one view per image instead of 3 (1.5 s fixed: 120 images
    # through the network, then the 30 test images) and the top stage's epoch (1.95 s);
    # below that, the head alone on one view
    phases, baseline_epochs = fit_budget(5, estimate, PHASES, 0)
    assert phases == [
        {**PHASES[0], "feature_views": 1},
        {**PHASES[1], "epochs": 1, "unfreeze_stages": 1},
    ]
    assert estimate(phases, 0) == pytest.approx(1.5 + 1.95)
    phases, baseline_epochs = fit_budget(1, estimate, PHASES, 10)
    assert (phases, baseline_epochs) == ([{**PHASES[0], "feature_views": 1}], 1)
    # from scratch (no frozen phase): the smallest run keeps its phases
    scratch = [{"name": "all", "unfreeze_stages": "all", "epochs": 30}]
    assert fit_budget(1, estimate, scratch, 0)[0] == [{**scratch[0], "epochs": 1}]


def test_format_minutes():
    assert format_minutes(30) == "under a minute"
    assert format_minutes(250) == "about 4 min"


def test_measure_times_a_tiny_network_reading_larger_images_resized_inside():
    from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier
    from resnet_finetune.training.budget import measure

    backbone = build_backbone(BackboneSpec(architecture="resnet20", width=0.25))
    model = build_classifier(backbone, 2, image_size=(16, 16), resize_to=(8, 8))
    assert model.get_layer("resize").output.shape[1:3] == (8, 8)
    speed = measure(model, (16, 16), batch=2, steps=1)
    assert speed.forward > 0 and speed.train > 0
    # the first call traces the graph: its extra seconds are the pass's set-up
    assert speed.forward_setup > 0 and speed.train_setup > 0
    assert measure(model, (16, 16), forward=False, batch=2, steps=1).forward == 0
