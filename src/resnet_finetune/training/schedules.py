"""Learning-rate schedules: cosine with linear warm-up, one-cycle, and constant until a
plateau (the engine then divides it)."""

from __future__ import annotations

import math

import keras
from keras import ops

SCHEDULES = ("cosine", "one_cycle", "plateau")
# fastai's fit_one_cycle: a quarter of the steps rising, from a 25th of the peak.
_ONE_CYCLE_RISE = 0.25
_ONE_CYCLE_DIV = 25.0
_ONE_CYCLE_FINAL_DIV = 1e4


@keras.saving.register_keras_serializable(package="resnet_finetune")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's one-cycle policy with cosine annealing (as fastai and PyTorch's
    ``OneCycleLR``): from ``peak / div_factor`` up to ``peak`` over ``rise_steps``, then
    down to ``peak / div_factor / final_div_factor`` at ``total_steps``."""

    def __init__(
        self,
        peak_learning_rate: float,
        total_steps: int,
        rise_steps: int,
        div_factor: float = _ONE_CYCLE_DIV,
        final_div_factor: float = _ONE_CYCLE_FINAL_DIV,
    ):
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = total_steps
        self.rise_steps = rise_steps
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        start = peak / self.div_factor
        end = start / self.final_div_factor
        rise = max(1, self.rise_steps)
        fall = max(1, self.total_steps - rise)

        def cosine(high_at_0, low_at_1, fraction):
            fraction = ops.clip(fraction, 0.0, 1.0)
            return low_at_1 + (high_at_0 - low_at_1) * (1 + ops.cos(math.pi * fraction)) / 2

        rising = cosine(start, peak, step / rise)
        falling = cosine(peak, end, (step - rise) / fall)
        return ops.where(step < rise, rising, falling)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "rise_steps": self.rise_steps,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }


def make_schedule(
    name: str, *, learning_rate: float, steps: int, warmup_steps: int = 0
) -> keras.optimizers.schedules.LearningRateSchedule | float:
    """``cosine``: linear warm-up from a tenth of ``learning_rate`` over ``warmup_steps``,
    then cosine decay to zero. ``one_cycle``: ``OneCycle`` peaking at ``learning_rate``
    after ``warmup_steps`` (a quarter of the steps when 0). ``plateau``: ``learning_rate``
    itself, which ``keras.callbacks.ReduceLROnPlateau`` can lower (it cannot lower a
    schedule)."""
    if name not in SCHEDULES:
        raise ValueError(f"schedule={name!r} is not allowed; allowed: {list(SCHEDULES)}")
    if name == "plateau":
        return learning_rate
    warmup_steps = min(warmup_steps, steps - 1)
    if name == "one_cycle":
        rise = warmup_steps or max(1, round(_ONE_CYCLE_RISE * steps))
        return OneCycle(learning_rate, total_steps=steps, rise_steps=rise)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10 if warmup_steps else learning_rate,
        decay_steps=max(1, steps - warmup_steps),
        warmup_target=learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )
