"""How long a fine-tuning run will take on this machine, and epochs that fit a time budget.

``measure_speed`` times a few steps of the chosen networks on random images (seconds, after
one warm-up step whose extra time is the pass's set-up); ``run_seconds`` turns those speeds
into the seconds of a whole run and ``fit_budget`` shortens the phases and the baseline
until the run fits. The arithmetic takes measured numbers, so it is tested without timing anything.

Library code: no Kedro here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from resnet_finetune.training.finetune import Phase

# A frozen phase trains the head on backbone features computed once per view of each
# image (training.finetune): its cost is those forward passes, not its epochs.
DEFAULT_VIEWS = Phase.__dataclass_fields__["feature_views"].default
# The training step is timed with SGD: its step costs what AdamW's does to within 3%, but
# its graph traces in a fifth of the time (ResNet-50 at 224 px, 2 CPU cores, 2026-12-03:
# 6.3 s against 35.5 s, a step 1.49 s against 1.53 s). The phases train with AdamW, whose
# set-up is SGD's times this.
ADAMW_SETUP_FACTOR = 5.6


@dataclass(frozen=True)
class Speed:
    """Measured seconds per image: the fine-tuned network's forward pass and training step
    with every stage learning, and the baseline's training step (0: no baseline); and the
    seconds each new pass pays once before its first batch (tracing the graph: on two CPU
    cores about 1 s for a ResNet-50's forward pass, 35 s for its training step with
    AdamW), which a run pays again for each phase, each prediction and the baseline."""

    forward: float
    train: float
    baseline_train: float = 0.0
    forward_setup: float = 0.0
    train_setup: float = 0.0
    baseline_setup: float = 0.0

    def step(self, unfrozen_share: float) -> float:
        """Seconds per image of a training step with that share of the backbone learning:
        the forward pass, plus the backward pass through the learning part."""
        return self.forward + (self.train - self.forward) * unfrozen_share


def _share(stages: int | str, total_stages: int) -> float:
    return 1.0 if stages == "all" else min(1.0, int(stages) / total_stages)


def run_seconds(
    speed: Speed,
    *,
    train_images: int,
    validation_images: int,
    test_images: int,
    phases: list[dict],
    baseline_epochs: int = 0,
    total_stages: int = 4,
    ranked_images: int = 0,
) -> float:
    """Seconds of a run: each phase (a frozen one on cached features: one forward pass of
    each of its ``feature_views`` views per image, at most one per epoch, as
    ``training.finetune`` computes them; an unfrozen one: its epochs of training steps), the
    validation images through the network each epoch, the baseline's epochs, and after
    training the test images through the fine-tuned network, or the ``ranked_images``
    (label suspects: every labelled image, the test ones among them, whose probabilities
    the scoring reuses). Each pass adds its set-up once: the frozen phase's feature pass,
    an unfrozen phase's training and validation, the pass after training."""
    seconds = max(test_images, ranked_images) * speed.forward + speed.forward_setup
    for phase in phases:
        epochs = int(phase.get("epochs") or 0)
        stages = phase.get("unfreeze_stages", 0)
        if stages == 0:
            views = min(int(phase.get("feature_views", DEFAULT_VIEWS)), max(epochs, 1))
            seconds += (views * train_images + validation_images) * speed.forward
            seconds += speed.forward_setup
        elif epochs:
            per_epoch = train_images * speed.step(_share(stages, total_stages))
            seconds += epochs * (per_epoch + validation_images * speed.forward)
            seconds += speed.train_setup + speed.forward_setup
    return seconds + baseline_seconds(speed, train_images, validation_images, baseline_epochs)


def baseline_seconds(speed: Speed, train_images: int, validation_images: int, epochs: int) -> float:
    """Seconds of the baseline's epochs, and its set-up when it trains."""
    per_epoch = baseline_epoch_seconds(speed, train_images, validation_images)
    return epochs * per_epoch + (speed.baseline_setup if epochs else 0.0)


def baseline_epoch_seconds(speed: Speed, train_images: int, validation_images: int) -> float:
    """Seconds of one baseline epoch (its forward pass: about a third of its step)."""
    return (train_images + validation_images / 3) * speed.baseline_train


def epochs_within(seconds: float, epoch_seconds: float, epochs: int) -> int:
    """The most epochs, up to ``epochs``, whose ``epoch_seconds`` each fit ``seconds``: at
    least one (0 when ``epochs`` is 0)."""
    if not epochs:
        return 0
    if epoch_seconds <= 0:
        return epochs
    return max(1, min(epochs, math.floor(seconds / epoch_seconds)))


def fit_budget(
    budget_seconds: float, estimate, phases: list[dict], baseline_epochs: int
) -> tuple[list[dict], int]:
    """Phases and baseline epochs whose ``estimate(phases, baseline_epochs)`` fits
    ``budget_seconds``: the unfrozen phases' and the baseline's epochs shortened in the
    same proportion (at least one each), then, while one epoch is still too long, a
    smaller run (``_smaller``: fewer stages unfrozen down to one, one view per image for
    the frozen phase, then the frozen phase alone). The frozen phase costs its forward
    passes whatever its epochs. The smallest run is returned when nothing fits."""
    phases = [dict(phase) for phase in phases]
    while True:
        full = estimate(phases, baseline_epochs)
        fixed = estimate([_no_epochs(p) for p in phases], 0)
        factor = (budget_seconds - fixed) / (full - fixed) if full > fixed else 1.0
        if factor >= 1:
            return phases, baseline_epochs
        shortened = [
            p if p.get("unfreeze_stages", 0) == 0 else {**p, "epochs": _scaled(p, factor)}
            for p in phases
        ]
        epochs = max(1, math.floor(baseline_epochs * factor)) if baseline_epochs else 0
        smaller = _smaller(phases)
        if estimate(shortened, epochs) <= budget_seconds or smaller is None:
            return shortened, epochs
        phases = smaller


def _no_epochs(phase: dict) -> dict:
    return phase if phase.get("unfreeze_stages", 0) == 0 else {**phase, "epochs": 0}


def _scaled(phase: dict, factor: float) -> int:
    return max(1, math.floor(int(phase.get("epochs") or 0) * max(factor, 0.0)))


def _frozen(phase: dict) -> bool:
    return phase.get("unfreeze_stages", 0) == 0


def _smaller(phases: list[dict]) -> list[dict] | None:
    """The next smaller run, or None: one stage fewer unfrozen where more than one is;
    else one view per image where a frozen phase caches more (a large folder: its forward
    passes are what cost); else, after a frozen phase, the unfrozen phases left out (the
    head alone trains on the pretrained features)."""
    if any(isinstance(p.get("unfreeze_stages"), int) and p["unfreeze_stages"] > 1 for p in phases):
        return [
            {**p, "unfreeze_stages": p["unfreeze_stages"] - 1}
            if isinstance(p.get("unfreeze_stages"), int) and p["unfreeze_stages"] > 1
            else p
            for p in phases
        ]
    if any(_frozen(p) and p.get("feature_views", DEFAULT_VIEWS) > 1 for p in phases):
        return [{**p, "feature_views": 1} if _frozen(p) else p for p in phases]
    frozen = [p for p in phases if _frozen(p)]
    if frozen and len(frozen) < len(phases):
        return frozen
    return None


def measure(
    model, image_size: tuple[int, int], *, forward: bool = True, batch: int = 4, steps: int = 2
) -> Speed:
    """Seconds per image of ``model``'s forward pass (0 unless ``forward``) and training
    step on random uint8 images, each after one warm-up call whose extra time is the
    pass's set-up (tracing: most of the time a measurement takes; the step timed with SGD,
    its set-up scaled to AdamW's: ``ADAMW_SETUP_FACTOR``). Graph mode, as training runs
    (eager steps measured several times slower); no XLA, whose compilation would take
    minutes."""
    import numpy as np

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, *image_size, 3), dtype="uint8")
    labels = np.zeros(batch, dtype="int32")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", jit_compile=False)

    def timed(step) -> tuple[float, float]:
        """Seconds per image, and the first call's seconds beyond one step."""
        started = time.perf_counter()
        step()
        first = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(steps):
            step()
        per_step = (time.perf_counter() - started) / steps
        return per_step / batch, max(0.0, first - per_step)

    forward_seconds, forward_setup = (
        timed(lambda: model.predict_on_batch(images)) if forward else (0.0, 0.0)
    )
    train, train_setup = timed(lambda: model.train_on_batch(images, labels))
    return Speed(
        forward=forward_seconds,
        train=train,
        forward_setup=forward_setup,
        train_setup=train_setup * ADAMW_SETUP_FACTOR,
    )


def format_minutes(seconds: float) -> str:
    """``about 4 min`` (under a minute: ``under a minute``)."""
    return "under a minute" if seconds < 60 else f"about {round(seconds / 60)} min"
