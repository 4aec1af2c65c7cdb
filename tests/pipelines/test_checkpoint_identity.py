"""A checkpoint is only reused by a training that sees the same pixels and labels: its
identity covers the whole task block as the run resolved it, and the content of the
corrections file it names (``data.identity.data_identity``, used by every pipeline)."""

import copy
import logging

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from resnet_finetune.data.training_set import TrainingSet
from resnet_finetune.models import BackboneSpec
from resnet_finetune.pipelines.pretrain.nodes import train_model
from resnet_finetune.training import Compute
from resnet_finetune.training.checkpoints import CheckpointOptions
from resnet_finetune.training.engine import TrainingOptions

TRAINING = TrainingOptions(epochs=1, learning_rate=0.05, optimizer="sgd")
COMPUTE = Compute(precision="float32", distribution="none", jit_compile=False)


@pytest.fixture
def source(tmp_path):
    """A task block as the run resolves it, naming a corrections file."""
    corrections = tmp_path / "corrections.csv"
    corrections.write_text("path,action,label\ncat/a.png,relabel,dog\n")
    return {
        "data_dir": str(tmp_path / "images"),
        "validation": {"min_side": 8, "background": [255, 255, 255]},
        "split": {"val_fraction": 0.25, "test_fraction": 0.0},
        "class_weights": "none",
        "quality": {"label_conflicts": "exclude", "corrections": str(corrections)},
        "input": {"image_size": [6, 6], "resize": "squash", "batch_size": 8},
        "augmentation": {"run_in": "pipeline", "flip": "none"},
    }


@pytest.fixture(scope="module")
def training_set():
    rng = np.random.default_rng(0)
    images = rng.random((16, 6, 6, 3)).astype("float32")
    batches = tf.data.Dataset.from_tensor_slices((images, np.arange(16) % 2)).batch(8)
    manifest = pd.DataFrame(
        {"sha256": [f"{i:064x}" for i in range(16)], "label": ["cat", "dog"] * 8, "split": "train"}
    )
    return TrainingSet(batches, batches, manifest, {}, {"cat": 0, "dog": 1}, {})


def pretrain(training_set, task, checkpoints, caplog) -> str:
    """The pretrain node, run once with ``task`` as its ``source`` block; its log."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6, 6, 3)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")]
    )
    caplog.clear()
    with caplog.at_level(logging.INFO, "resnet_finetune"):
        train_model(
            model,
            training_set,
            task,
            TRAINING,
            COMPUTE,
            checkpoints,
            0,
            BackboneSpec("resnet20", weights="pretrain"),
        )
    return caplog.text


def test_a_change_to_the_pixels_or_the_corrections_trains_afresh(
    training_set, source, tmp_path, caplog
):
    checkpoints = CheckpointOptions(dir=str(tmp_path / "checkpoints"))
    assert "already trained" not in pretrain(training_set, source, checkpoints, caplog)
    assert "already trained" in pretrain(training_set, copy.deepcopy(source), checkpoints, caplog)

    # Transparent pixels composited on black instead of white: other pixels.
    black = copy.deepcopy(source)
    black["validation"]["background"] = [0, 0, 0]
    assert "already trained" not in pretrain(training_set, black, checkpoints, caplog)

    # The same corrections path with other content.
    corrections = tmp_path / "corrections.csv"
    corrections.write_text("path,action,label\ncat/a.png,exclude,\n")
    assert "already trained" not in pretrain(training_set, source, checkpoints, caplog)
    assert "already trained" in pretrain(training_set, source, checkpoints, caplog)


def test_the_same_images_in_another_folder_resume(training_set, source, tmp_path, caplog):
    """Where the images are is not what they are: the manifest's hash identifies them."""
    checkpoints = CheckpointOptions(dir=str(tmp_path / "checkpoints"))
    pretrain(training_set, source, checkpoints, caplog)
    moved = {**source, "data_dir": str(tmp_path / "elsewhere")}
    assert "already trained" in pretrain(training_set, moved, checkpoints, caplog)
