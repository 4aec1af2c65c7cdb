"""Train a tiny ResNet a few steps under one ``compute.distribution`` and save its weights.

Each distributed set-up needs a process of its own (devices are fixed when the backend
starts), so the distribution tests run this file as a script:
``python train_worker.py OUT DISTRIBUTION LOGICAL_DEVICES LEARNING_RATE SYNC_BATCHNORM``.
"""

import os
import sys

out, distribution, devices, learning_rate, sync_batchnorm = sys.argv[1:6]
devices = int(devices)
if os.environ.get("KERAS_BACKEND") == "jax":
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
else:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * devices
    )

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from resnet_finetune.models import BackboneSpec, build_backbone, build_classifier  # noqa: E402
from resnet_finetune.training import Compute, TrainingOptions, train  # noqa: E402

# MultiWorkerMirroredStrategy must exist before any other TensorFlow operation runs.
compute = Compute(
    precision="float32", distribution=distribution, sync_batchnorm=sync_batchnorm == "1"
)
replicas = compute.replicas

PER_REPLICA_BATCH = 8
rng = np.random.default_rng(0)
labels = rng.integers(0, 2, 64).astype("int32")
images = (rng.integers(0, 100, (64, 8, 8, 3)) + 150 * labels[:, None, None, None]).astype("uint8")
# Global batch of 16 whatever the set-up: a single device is the reference.
data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2 * PER_REPLICA_BATCH)

keras.utils.set_random_seed(0)
model = build_classifier(
    build_backbone(BackboneSpec(architecture="resnet20", width=0.25)),
    2,
    image_size=(8, 8),
)
initial = [w.copy() for w in model.get_weights()]
history = train(
    model,
    data,
    options=TrainingOptions(epochs=2, learning_rate=float(learning_rate), optimizer="sgd"),
    compute=compute,
)
np.savez(
    out,
    replicas=replicas,
    loss=history["loss"].to_numpy(),
    **{f"w{i}": w for i, w in enumerate(model.get_weights())},
    **{f"init{i}": w for i, w in enumerate(initial)},
)
