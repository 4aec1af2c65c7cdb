"""Checkpoints of the training engine: resume, atomic snapshots, divergence, plateaus."""

import json
import logging
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from resnet_finetune.data.augment import Augmentation
from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.input_pipeline import apply_augmentation, image_dataset, one_hot_labels
from resnet_finetune.data.manifest import build_manifest
from resnet_finetune.data.split import SplitSpec
from resnet_finetune.training import (
    TrainingCheckpoint,
    TrainingDiverged,
    TrainingOptions,
    make_optimizer,
    train,
)
from resnet_finetune.training.checkpoints import check_losses, clear_trained
from resnet_finetune.training.compute import make_deterministic

OPTIONS = {"epochs": 4, "learning_rate": 0.05, "optimizer": "sgd", "warmup_epochs": 1}


def make_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6, 6, 3)),
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.2, seed=seed),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.random((48, 6, 6, 3)).astype("float32")
    labels = (images[:, :3].mean(axis=(1, 2, 3)) * 3).astype("int64") % 3
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)


class StopAfter(keras.callbacks.Callback):
    """Interrupts training after ``epochs`` epochs, as a killed process would."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epochs:
            raise KeyboardInterrupt


def compiled(model):
    """``model`` compiled as ``train`` compiles it with OPTIONS, optimizer built."""
    optimizer = make_optimizer("sgd", learning_rate=0.05, steps=24, warmup_steps=6)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    optimizer.build(model.trainable_variables)
    return model


def weights(model):
    return [w.numpy() for w in model.weights]


def test_a_resumed_training_ends_where_an_uninterrupted_one_does(data, tmp_path, caplog):
    reference = make_model()
    expected = train(reference, data, data, options=TrainingOptions(**OPTIONS))

    checkpoint = TrainingCheckpoint(tmp_path / "run")
    interrupted = make_model()
    with pytest.raises(KeyboardInterrupt):
        train(
            interrupted,
            data,
            data,
            options=TrainingOptions(**OPTIONS),
            checkpoint=checkpoint,
            callbacks=[StopAfter(2)],
        )
    state = json.loads((latest_snapshot(checkpoint.directory) / "state.json").read_text())
    assert state["epoch"] == 2 and not state["finished"]

    resumed = make_model()  # a new process builds the model afresh
    caplog.clear()  # only the resumed run's lines (earlier runs log too at INFO)
    with caplog.at_level(logging.INFO, "resnet_finetune"):
        history = train(
            resumed, data, data, options=TrainingOptions(**OPTIONS), checkpoint=checkpoint
        )
    assert "resuming from epoch 2 (step 0) of 4" in caplog.text
    # Only epochs 3 and 4 were trained again; the history holds all four.
    trained = {r.message.split(":")[0] for r in caplog.records if "/4:" in r.message}
    assert trained == {"epoch 3/4", "epoch 4/4"}
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-5)
    # Weights, optimizer moments, the schedule's position and the layers' random
    # generators were all restored: the end is the uninterrupted run's end.
    for got, want in zip(weights(resumed), weights(reference), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert int(resumed.optimizer.iterations) == 4 * 6


def random_input(manifest):
    """Training batches shuffled, augmented and mixed (MixUp or CutMix per batch), and
    one-hot validation batches, as ingestion builds them: a new pipeline each call, as a
    new process would build it."""
    images = image_dataset(manifest, "train", image_size=(8, 8), batch_size=6, shuffle=True, seed=3)
    train_data = apply_augmentation(
        images,
        Augmentation(flip="horizontal", rotation=0.1).image_layers(seed=3),
        Augmentation(mixup=0.4, cutmix=1.0).mixers(seed=3),
        num_classes=3,
    )
    val = image_dataset(manifest, "val", image_size=(8, 8), batch_size=6, shuffle=False, seed=3)
    return train_data, one_hot_labels(val, 3)


def image_model(seed=0):
    """Random layers inside the model too: flips and dropout."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 3), dtype="uint8"),
            keras.layers.Rescaling(1 / 255),
            keras.layers.RandomFlip("vertical", seed=seed),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3, seed=seed),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


@pytest.fixture
def manifest(class_folder, tmp_path):
    manifest, _, _ = build_manifest(
        class_folder, SplitSpec(val_fraction=0.2, test_fraction=0), ImageChecks(), tmp_path / "c"
    )
    return manifest


def test_a_resumed_training_reads_the_epochs_an_uninterrupted_one_reads(manifest, tmp_path):
    """Shuffling, augmentation, MixUp/CutMix and dropout all follow (seed, epoch): a
    training resumed at epoch 2 with a fresh model and a fresh input pipeline ends with
    exactly the weights of one that ran four epochs in one go."""
    make_deterministic()  # as every run does: tf.data's random draws in order
    options = TrainingOptions(**OPTIONS)
    reference = image_model()
    expected = train(reference, *random_input(manifest), options=options)

    checkpoint = TrainingCheckpoint(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        train(
            image_model(),
            *random_input(manifest),
            options=options,
            checkpoint=checkpoint,
            callbacks=[StopAfter(2)],
        )
    resumed = image_model()
    history = train(resumed, *random_input(manifest), options=options, checkpoint=checkpoint)
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(history["loss"], expected["loss"])
    for got, want in zip(weights(resumed), weights(reference), strict=True):
        np.testing.assert_array_equal(got, want)


def test_two_trainings_of_one_process_give_the_same_models_in_either_order(manifest):
    """The second training reads the same batches as it would have read first: the input
    pipeline's random state is not carried from one training to the next."""
    make_deterministic()
    train_data, val = random_input(manifest)
    options = TrainingOptions(**{**OPTIONS, "epochs": 2})
    models = {}
    for order in (("a", "b"), ("b", "a")):
        for name in order:
            model = image_model(seed={"a": 1, "b": 2}[name])
            train(model, train_data, val, options=options)
            models.setdefault(name, []).append(weights(model))
    for first_order, second_order in models.values():
        for got, want in zip(second_order, first_order, strict=True):
            np.testing.assert_array_equal(got, want)


def test_a_finished_training_is_not_repeated_and_other_settings_start_afresh(
    data, tmp_path, caplog
):
    checkpoint = TrainingCheckpoint(tmp_path / "run")
    first = make_model()
    history = train(first, data, options=TrainingOptions(**OPTIONS), checkpoint=checkpoint)
    again = make_model()  # same model, weights not trained yet
    with caplog.at_level(logging.INFO, "resnet_finetune"):
        repeated = train(again, data, options=TrainingOptions(**OPTIONS), checkpoint=checkpoint)
    assert "already trained" in caplog.text
    assert repeated.equals(history)
    for got, want in zip(weights(again), weights(first), strict=True):
        np.testing.assert_array_equal(got, want)

    caplog.clear()
    other = make_model()
    used = checkpoint.directory
    with caplog.at_level(logging.INFO, "resnet_finetune"):
        train(
            other,
            data,
            options=TrainingOptions(**{**OPTIONS, "learning_rate": 0.01}),
            checkpoint=checkpoint,
        )
    assert "already trained" not in caplog.text
    assert sum("/4:" in r.message for r in caplog.records) == 4
    # Each training has a folder of its own: the first one's state is still there.
    assert checkpoint.directory != used and (used / "latest").is_file()


def test_other_data_another_seed_or_other_starting_weights_never_resume(data, tmp_path):
    """The identity covers what the caller knows (data hash, seed) and where training
    starts (the weights): a finished training is only reused for exactly the same."""
    folders = set()
    for context, seed in (
        ({"dataset_sha256": "A", "seed": 42}, 0),
        ({"dataset_sha256": "B", "seed": 42}, 0),
        ({"dataset_sha256": "A", "seed": 7}, 0),
        ({"dataset_sha256": "A", "seed": 42}, 1),
    ):
        checkpoint = TrainingCheckpoint(tmp_path / "run", context=context)
        train(
            make_model(seed),
            data,
            options=TrainingOptions(**{**OPTIONS, "epochs": 1}),
            checkpoint=checkpoint,
        )
        folders.add(checkpoint.directory)
    assert len(folders) == 4


def test_a_second_process_training_the_same_thing_gets_its_own_folder(data, tmp_path):
    import subprocess
    import sys

    checkpoint = TrainingCheckpoint(tmp_path / "run")
    train(
        make_model(),
        data,
        options=TrainingOptions(**{**OPTIONS, "epochs": 1}),
        checkpoint=checkpoint,
    )
    held = checkpoint.directory
    # Another process tries to lock the folder this process trains in.
    probe = (
        "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
        "except BlockingIOError: print('held')"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(held / "lock")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "held"
    removed = clear_trained()
    assert held in removed and not held.exists()
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "run" / "lockfree")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert not (tmp_path / "run" / held.name).exists()


def test_a_snapshot_killed_while_being_written_leaves_the_previous_one(data, tmp_path, monkeypatch):
    checkpoint = TrainingCheckpoint(tmp_path / "run")
    model = make_model()
    with pytest.raises(KeyboardInterrupt):
        train(
            model,
            data,
            options=TrainingOptions(**OPTIONS),
            checkpoint=checkpoint,
            callbacks=[StopAfter(1)],
        )
    saved = weights(model)

    write_text = Path.write_text

    def killed(path, *args, **kwargs):
        if path.name == "state.json":
            raise KeyboardInterrupt
        return write_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", killed)  # dies after the weights, before the rest
    with pytest.raises(KeyboardInterrupt):
        train(
            make_model(), data, options=TrainingOptions(**OPTIONS), checkpoint=checkpoint
        )  # resumes, dies saving
    monkeypatch.undo()
    fresh = compiled(make_model())
    snapshot = checkpoint.restore(fresh, _identity_of(checkpoint.directory))
    assert (snapshot.epoch, snapshot.finished) == (1, False)
    for got, want in zip(weights(fresh)[: len(saved)], saved, strict=False):
        np.testing.assert_array_equal(got, want)


def latest_snapshot(folder):
    return folder / (folder / "latest").read_text()


def _identity_of(folder):
    return json.loads((latest_snapshot(folder) / "state.json").read_text())["fingerprint"]


def test_step_checkpoints_record_the_step(data, tmp_path):
    checkpoint = TrainingCheckpoint(tmp_path / "run", every_n_steps=4)

    class StopAtStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            make_model(),
            data,
            options=TrainingOptions(**OPTIONS),
            checkpoint=checkpoint,
            callbacks=[StopAtStep()],
        )
    model = compiled(make_model())
    snapshot = checkpoint.restore(model, _identity_of(checkpoint.directory))
    assert (snapshot.epoch, snapshot.step) == (0, 4)
    assert int(model.optimizer.iterations) == 4
    with pytest.raises(ValueError, match="every_n_steps=0"):
        TrainingCheckpoint(tmp_path, every_n_steps=0)


class PoisonWeights(keras.callbacks.Callback):
    """Makes one kernel non-finite mid-epoch, as an exploding update would: whatever a
    CPU does with NaN inside the loss, the weights cannot hide it."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            kernel = self.model.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))


def test_non_finite_weights_stop_training_and_keep_the_last_good_checkpoint(data, tmp_path):
    checkpoint = TrainingCheckpoint(tmp_path / "bad")
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch 1"):
        train(
            make_model(),
            data,
            options=TrainingOptions(**OPTIONS),
            checkpoint=checkpoint,
            callbacks=[PoisonWeights()],
        )
    # Nothing was saved from the diverged epoch.
    assert not (checkpoint.directory / "latest").exists()


def test_the_guard_reads_the_weights_not_only_the_loss(data, monkeypatch):
    """A CPU whose cross-entropy turns NaN into a finite loss is modelled by a loss check
    that sees nothing: the weight check still stops training; without it, training
    would go on with NaN weights."""
    from resnet_finetune.training import checkpoints

    monkeypatch.setattr(checkpoints, "check_losses", lambda *args: None)
    with pytest.raises(TrainingDiverged, match=r"epoch 1: non-finite values in .*kernel"):
        train(
            make_model(),
            data,
            options=TrainingOptions(**{**OPTIONS, "epochs": 1}),
            callbacks=[PoisonWeights()],
        )
    monkeypatch.setattr(checkpoints, "check_weights", lambda *args: None)
    model = make_model()
    train(
        model,
        data,
        options=TrainingOptions(**{**OPTIONS, "epochs": 1}),
        callbacks=[PoisonWeights()],
    )
    assert not np.isfinite(model.layers[-1].kernel.numpy()).all()


# AdamW at a learning rate of 1e6 on the tiny model: finite losses of 1e12 and more, as
# the run (loss 7.1e23, val_loss 2.9e27) that was saved as a good model.
DIVERGING = {**OPTIONS, "optimizer": "adamw", "learning_rate": 1e6, "epochs": 2}


def test_a_finite_but_huge_loss_stops_training_naming_the_epoch_and_what_to_change(
    data, tmp_path, caplog
):
    checkpoint = TrainingCheckpoint(tmp_path / "run")
    with pytest.raises(
        TrainingDiverged,
        # The validation loss, when it diverged too, is named beside the training's.
        match=r"diverged at epoch 1: loss=\d\.\d+e\+\d\d(, val_loss=\S+)?, over 1000 times "
        r"1\.\d+, the larger of the training's starting loss \(1\.\d+\) and a uniform "
        r"guess's ln\(3 classes\) = 1\.1\. Lower this training's learning_rate \(now 1e\+06\), "
        r"set gradient_clip_norm",
    ):
        train(make_model(), data, data, options=TrainingOptions(**DIVERGING), checkpoint=checkpoint)
    # Nothing of the diverged epoch was saved, so nothing can count as finished.
    assert not (checkpoint.directory / "latest").exists()
    # The same command again trains (and diverges) again: never "already trained".
    with caplog.at_level(logging.INFO, "resnet_finetune"), pytest.raises(TrainingDiverged):
        train(make_model(), data, data, options=TrainingOptions(**DIVERGING), checkpoint=checkpoint)
    assert "already trained" not in caplog.text


def test_weights_beyond_a_sane_size_stop_training_when_the_loss_does_not(data, monkeypatch):
    from resnet_finetune.training import checkpoints

    monkeypatch.setattr(checkpoints, "check_losses", lambda *args: None)
    with pytest.raises(
        TrainingDiverged,
        match=r"epoch 1: values beyond 1e\+05 \(a variance beyond 1e\+10\) in \S+ \(",
    ):
        train(make_model(), data, options=TrainingOptions(**DIVERGING))


def test_a_noisy_but_sane_training_does_not_trip_the_guard(data):
    # Adam at a learning rate of 1.0 is far too high for this model: its validation loss
    # jumps far above a uniform guess's (218, 198 times ln 3) and comes back. Not a divergence.
    history = train(
        make_model(),
        data,
        data,
        options=TrainingOptions(epochs=3, learning_rate=1.0),
    )
    assert len(history) == 3
    assert history["val_loss"].max() > 20 * np.log(3)


def test_a_loss_is_judged_against_the_larger_of_its_start_and_a_uniform_guess():
    model = make_model()  # 3 classes: a uniform guess's loss is ln 3 = 1.0986
    check_losses({"loss": 1000.0, "val_loss": 1098.0}, "epoch 2", model)
    with pytest.raises(TrainingDiverged, match=r"epoch 2: val_loss=1.1e\+03, over 1000 times 1.1,"):
        check_losses({"loss": 1000.0, "val_loss": 1100.0}, "epoch 2", model)
    # A training that started high (a new head on large features) is judged from there.
    check_losses({"loss": 4000.0}, "epoch 2", model, start_loss=5.0)
    with pytest.raises(TrainingDiverged, match=r"loss=5.1e\+03, over 1000 times 5, .*\(5\)"):
        check_losses({"loss": 5100.0}, "epoch 2", model, start_loss=5.0)


def test_a_diverged_checkpoint_written_before_the_guard_is_never_already_trained(
    data, tmp_path, monkeypatch, caplog
):
    from resnet_finetune.training import checkpoints

    checkpoint = TrainingCheckpoint(tmp_path / "run")
    with monkeypatch.context() as unguarded:  # as the code before the guard wrote it
        unguarded.setattr(checkpoints, "check_losses", lambda *args: None)
        unguarded.setattr(checkpoints, "check_weights", lambda *args: None)
        train(make_model(), data, data, options=TrainingOptions(**DIVERGING), checkpoint=checkpoint)
    assert json.loads((latest_snapshot(checkpoint.directory) / "state.json").read_text())[
        "finished"
    ]
    with caplog.at_level(logging.INFO, "resnet_finetune"), pytest.raises(TrainingDiverged):
        train(make_model(), data, data, options=TrainingOptions(**DIVERGING), checkpoint=checkpoint)
    assert "holds a diverged training" in caplog.text
    assert "already trained" not in caplog.text


def test_plateau_schedule_lowers_the_learning_rate_when_validation_stalls(data):
    model = make_model()
    history = train(
        model,
        data,
        data,
        options=TrainingOptions(
            epochs=6, learning_rate=1e-7, schedule="plateau", plateau_patience=1, plateau_factor=0.5
        ),
    )
    assert history["learning_rate"].iloc[0] == pytest.approx(1e-7)
    assert history["learning_rate"].iloc[-1] < 1e-7 / 2
    with pytest.raises(ValueError, match="plateau_factor=1.5"):
        train(
            make_model(),
            data,
            options=TrainingOptions(
                epochs=1, learning_rate=0.1, schedule="plateau", plateau_factor=1.5
            ),
        )
    with pytest.raises(ValueError, match="no warm-up"):
        train(
            make_model(),
            data,
            options=TrainingOptions(
                epochs=1, learning_rate=0.1, schedule="plateau", warmup_epochs=1
            ),
        )


def test_a_kill_while_the_finished_state_is_written_leaves_the_last_epoch(
    data, tmp_path, monkeypatch
):
    # The finished state carries the last epoch's numbers: it must not replace that
    # epoch's snapshot before it is complete.
    checkpoint = TrainingCheckpoint(tmp_path / "run")
    write_text = Path.write_text
    saves = []

    def dies_on_the_finished_state(path, *args, **kwargs):
        if path.name == "state.json":
            saves.append(1)
            if len(saves) > OPTIONS["epochs"]:
                raise KeyboardInterrupt
        return write_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", dies_on_the_finished_state)
    with pytest.raises(KeyboardInterrupt):
        train(make_model(), data, options=TrainingOptions(**OPTIONS), checkpoint=checkpoint)
    monkeypatch.undo()
    snapshot = checkpoint.restore(compiled(make_model()), _identity_of(checkpoint.directory))
    assert (snapshot.epoch, snapshot.finished) == (OPTIONS["epochs"], False)
