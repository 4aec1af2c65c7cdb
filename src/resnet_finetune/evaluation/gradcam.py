"""Grad-CAM (Selvaraju et al., 2017): where in an image a classifier found its evidence.

Gradients need a backend's automatic differentiation; this module uses TensorFlow's
``GradientTape``, the project's backend.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from resnet_finetune.models.classifier import TemperatureScaling
from resnet_finetune.models.resnet import leaf_layers


def feature_map_layer(model: keras.Model, layer_name: str | None = None) -> keras.Layer:
    """The layer named ``layer_name``, searched in nested models too; by default the last
    layer with a spatial (batch, height, width, channels) output: for a ResNet, the output
    of its last residual block."""
    layers = list(leaf_layers(model))
    if layer_name is not None:
        for layer in layers:
            if layer.name == layer_name:
                return layer
        raise ValueError(f"layer_name={layer_name!r}: the model has no layer of that name")
    spatial = [layer for layer in layers if len(layer.output.shape) == 4]
    if not spatial:
        raise ValueError(f"model {model.name!r} has no layer with a spatial output")
    return spatial[-1]


def _holds(model: keras.Model, target: keras.Layer) -> bool:
    return any(layer is target for layer in leaf_layers(model))


def _logits(layer: keras.Layer) -> keras.Layer:
    """A copy of a softmax ``Dense`` output layer without its softmax."""
    config = {**layer.get_config(), "activation": "linear", "name": f"{layer.name}_logits"}
    copy = layer.__class__.from_config(config)
    copy.build(layer.input.shape)
    copy.set_weights(layer.get_weights())
    return copy


def _with_feature_map(model: keras.Model, target: keras.Layer, logits: bool) -> keras.Model:
    """``model``'s inputs to (``target``'s output, ``model``'s output) from the same layers
    and weights, ``target`` possibly inside nested models; with ``logits``, a softmax output
    layer gives its scores before the softmax."""
    maps = []
    # A calibrated model ends in a temperature after its softmax head: dividing the logits
    # by T scales the map, which is then normalised, so the logits of the head serve.
    temperature = model.layers[-1] if isinstance(model.layers[-1], TemperatureScaling) else None
    output_layer = model.layers[-2] if temperature else model.layers[-1]
    softmax = logits and getattr(output_layer, "activation", None) is keras.activations.softmax

    def call(layer, *args, **kwargs):
        if layer is target:
            maps.append(layer(*args, **kwargs))
            return maps[-1]
        if isinstance(layer, keras.Model) and _holds(layer, target):
            feature_map, output = _with_feature_map(layer, target, logits=False)(*args, **kwargs)
            maps.append(feature_map)
            return output
        if softmax and layer is output_layer:
            return _logits(layer)(*args, **kwargs)
        if softmax and layer is temperature:
            return args[0]
        return layer(*args, **kwargs)

    rebuilt = keras.models.clone_model(
        model, clone_function=lambda layer: layer, call_function=call
    )
    return keras.Model(rebuilt.inputs, [maps[0], rebuilt.outputs[0]])


def grad_cam(
    model: keras.Model,
    images: np.ndarray,
    layer_name: str | None = None,
    class_indices: np.ndarray | None = None,
) -> np.ndarray:
    """Grad-CAM heat maps, one per image, at the images' height and width, in [0, 1].

    The feature maps of ``layer_name`` (by default the last spatial one: see
    ``feature_map_layer``) are weighted by the spatial mean of the gradient of the class
    score, summed over channels, kept where positive, resized bilinearly and divided by
    their maximum. The class score is the logit when the model ends in a softmax layer: a
    softmax probability near 1 has a vanishing gradient. ``class_indices``: the class to
    explain for each image; by default the predicted one. A map with no positive evidence
    is all zeros.
    """
    target = feature_map_layer(model, layer_name)
    explainer = _with_feature_map(model, target, logits=True)
    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        feature_maps, scores = explainer(images, training=False)
        classes = (
            tf.argmax(scores, axis=-1)
            if class_indices is None
            else tf.convert_to_tensor(class_indices, dtype=tf.int64)
        )
        chosen = tf.gather(tf.cast(scores, tf.float32), classes, axis=1, batch_dims=1)
    gradients = tf.cast(tape.gradient(chosen, feature_maps), tf.float32)
    feature_maps = tf.cast(feature_maps, tf.float32)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    heat = tf.nn.relu(tf.reduce_sum(weights * feature_maps, axis=-1, keepdims=True))
    heat = tf.image.resize(heat, images.shape[1:3], method="bilinear")[..., 0].numpy()
    peak = heat.max(axis=(1, 2), keepdims=True)
    return np.divide(heat, peak, out=np.zeros_like(heat), where=peak > 0)
