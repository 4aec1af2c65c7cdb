"""The model library is pure Keras 3: it builds and trains on every installed backend,
augmentation inside the model included."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

ONE_STEP = """
import json, keras, numpy as np
from resnet_finetune.data.augment import Augmentation
from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier
keras.utils.set_random_seed(0)
augmenter = Augmentation(
    flip="horizontal", random_resized_crop=[0.5, 1.0], rotation=0.1
).image_layers(seed=42)
model = build_classifier(build_backbone(BackboneSpec(architecture="resnet20", width=0.25)), 3,
                         image_size=(8, 8), augmentation=augmenter)
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
images = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 3)).astype("uint8")
labels = np.arange(8) % 3
before = model.get_layer("backbone").get_layer("conv1_conv").get_weights()[0]
first = float(model.train_on_batch(images, labels))
after = model.get_layer("backbone").get_layer("conv1_conv").get_weights()[0]
print(json.dumps({"backend": keras.backend.backend(), "loss": first,
                  "changed": bool(np.abs(after - before).max() > 0),
                  "head_dtype": model.get_layer("head").compute_dtype}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_builds_and_trains_one_step(backend):
    module = {"tensorflow": "tensorflow", "jax": "jax"}[backend]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-c", ONE_STEP],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    assert report["changed"] and 0 < report["loss"] < 10
    assert report["head_dtype"] == "float32"
