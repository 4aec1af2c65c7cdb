"""The compile/fit engine shared by pretraining, fine-tuning and the scratch baseline."""

from __future__ import annotations

import keras
import pandas as pd

OPTIMIZERS = ("adamw", "sgd")
# BatchNorm scales/offsets and biases are not decayed (as timm and NVIDIA's recipes do).
_NO_DECAY = ["gamma", "beta", "bias"]


def make_optimizer(
    name: str,
    *,
    learning_rate: float,
    steps: int,
    warmup_steps: int = 0,
    weight_decay: float = 0.0,
) -> keras.optimizers.Optimizer:
    """``adamw`` or ``sgd`` (Nesterov) with a cosine schedule and linear warm-up."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer={name!r} is not allowed; allowed: {list(OPTIMIZERS)}")
    if learning_rate <= 0:
        raise ValueError(f"learning_rate={learning_rate!r} must be positive")
    warmup_steps = min(warmup_steps, steps - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10 if warmup_steps else learning_rate,
        decay_steps=max(1, steps - warmup_steps),
        warmup_target=learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )
    if name == "adamw":
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=weight_decay)
    else:
        optimizer = keras.optimizers.SGD(
            schedule, momentum=0.9, nesterov=True, weight_decay=weight_decay or None
        )
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=_NO_DECAY)
    return optimizer


def _crossentropy_for(dataset) -> str:
    labels = dataset.element_spec[1]
    if labels.shape.rank == 1:
        return "sparse_categorical_crossentropy"
    return "categorical_crossentropy"


def train(
    model: keras.Model,
    train_data,
    val_data,
    *,
    epochs: int,
    learning_rate: float,
    optimizer: str = "adamw",
    weight_decay: float = 0.0,
    warmup_epochs: int = 0,
    early_stopping_patience: int | None = None,
    jit_compile: bool | str = "auto",
    class_weight: dict[int, float] | None = None,
    callbacks: list | None = None,
    verbose: int = 0,
) -> pd.DataFrame:
    """Compile ``model`` and fit it; return one row of metrics per epoch.

    Labels may be class indices or one-hot/soft rows (MixUp, CutMix): the loss follows.
    With ``early_stopping_patience`` the best weights by validation loss are restored.
    """
    if epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be at least 1")
    steps_per_epoch = int(train_data.cardinality())
    if steps_per_epoch < 1:
        raise ValueError("the training data must have a known, non-zero number of batches")
    model.compile(
        optimizer=make_optimizer(
            optimizer,
            learning_rate=learning_rate,
            steps=epochs * steps_per_epoch,
            warmup_steps=warmup_epochs * steps_per_epoch,
            weight_decay=weight_decay,
        ),
        loss=_crossentropy_for(train_data),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    callbacks = list(callbacks or [])
    if early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True
            )
        )
    history = model.fit(
        train_data,
        validation_data=val_data,
        epochs=epochs,
        class_weight=class_weight,
        callbacks=callbacks,
        verbose=verbose,
    )
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", range(1, len(frame) + 1))
    return frame
