"""A short architecture report: layers, parameters, multiply-adds, shape per stage."""

from __future__ import annotations

import re

import keras
import numpy as np

_STAGE_OUTPUT = re.compile(r"^(conv\d+)_block\d+_out$")


def _count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one image through every convolution and dense layer.

    The paper's convention (its "FLOPs"): BatchNorm, activations, additions and pooling
    are not counted. Needs a model built for a fixed input size.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += multiply_adds(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            _, height, width, _ = layer.output.shape
            if height is None or width is None:
                raise ValueError(f"layer {layer.name!r} has no fixed output size: give input_shape")
            kernel_h, kernel_w, channels_in, channels_out = layer.kernel.shape
            total += height * width * kernel_h * kernel_w * channels_in * channels_out
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return int(total)


def architecture_report(model: keras.Model) -> dict:
    """Layers, parameters (trainable and not), multiply-adds per image, stage outputs."""
    stages = {
        match.group(1): list(layer.output.shape[1:])
        for layer in model.layers
        if (match := _STAGE_OUTPUT.match(layer.name))
    }
    return {
        "name": model.name,
        "input_shape": list(model.input_shape[1:]),
        "layers": len(model.layers),
        "parameters": model.count_params(),
        "trainable_parameters": _count(model.trainable_weights),
        "non_trainable_parameters": _count(model.non_trainable_weights),
        "multiply_adds_per_image": multiply_adds(model),
        "stage_output_shapes": stages,
        "output_shape": list(model.output_shape[1:]),
    }
