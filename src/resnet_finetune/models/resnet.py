"""One configuration-driven builder for the whole ResNet family.

Depths are data (``ARCHITECTURES``); one function per block type; layer names follow
``keras.applications`` (``conv2_block1_1_conv``) so that its published weights load by
name. Pure Keras 3: runs on the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

import json
import re
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from resnet_finetune.checks import check_choice
from resnet_finetune.errors import ParameterError


@dataclass(frozen=True)
class Architecture:
    """The shape of one network: its blocks, their count and width per stage."""

    block: str  # "basic" (two 3x3) or "bottleneck" (1x1, 3x3, 1x1 with 4x expansion)
    depths: tuple[int, ...]
    filters: tuple[int, ...]
    stem: str  # "imagenet" (7x7/2 conv + 3x3/2 max-pool) or "cifar" (3x3/1 conv)
    residual: bool = True

    @property
    def family(self) -> str:
        return self.stem


_IMAGENET_FILTERS = (64, 128, 256, 512)
_CIFAR_FILTERS = (16, 32, 64)

ARCHITECTURES: dict[str, Architecture] = {
    "resnet18": Architecture("basic", (2, 2, 2, 2), _IMAGENET_FILTERS, "imagenet"),
    "resnet34": Architecture("basic", (3, 4, 6, 3), _IMAGENET_FILTERS, "imagenet"),
    "resnet50": Architecture("bottleneck", (3, 4, 6, 3), _IMAGENET_FILTERS, "imagenet"),
    "resnet101": Architecture("bottleneck", (3, 4, 23, 3), _IMAGENET_FILTERS, "imagenet"),
    "resnet152": Architecture("bottleneck", (3, 8, 36, 3), _IMAGENET_FILTERS, "imagenet"),
}
# CIFAR networks have 6n+2 layers: n basic blocks in each of three stages.
for _depth in (20, 32, 44, 56, 110):
    _n = (_depth - 2) // 6
    ARCHITECTURES[f"resnet{_depth}"] = Architecture("basic", (_n,) * 3, _CIFAR_FILTERS, "cifar")
    ARCHITECTURES[f"plain{_depth}"] = Architecture(
        "basic", (_n,) * 3, _CIFAR_FILTERS, "cifar", residual=False
    )

VARIANTS = {"imagenet": ("v1", "v1.5", "v2"), "cifar": ("v1",)}
SHORTCUTS = {"imagenet": ("B",), "cifar": ("A", "B")}
POOLINGS = ("avg", "max", None)
EXPANSION = {"basic": 1, "bottleneck": 4}


@keras.saving.register_keras_serializable(package="resnet_finetune")
class ZeroPadShortcut(layers.Layer):
    """The paper's option A shortcut: subsample by ``stride``, zero-pad the new channels."""

    def __init__(self, stride: int, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride
        self.channels = channels

    def call(self, inputs):
        x = inputs[:, :: self.stride, :: self.stride, :]
        extra = self.channels - x.shape[-1]
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        def reduced(size):
            return None if size is None else -(-size // self.stride)

        return (input_shape[0], reduced(input_shape[1]), reduced(input_shape[2]), self.channels)

    def get_config(self):
        return {**super().get_config(), "stride": self.stride, "channels": self.channels}


@dataclass(frozen=True)
class _Options:
    variant: str
    shortcut: str
    residual: bool
    conv_bias: bool | None
    bn_momentum: float
    bn_epsilon: float
    zero_init_residual: bool
    l2: float
    drop_path: float = 0.0  # this block's stochastic-depth rate

    def bias(self, keras_default: bool) -> bool:
        return keras_default if self.conv_bias is None else self.conv_bias


def _conv(x, filters, kernel, stride, name, opts, bias):
    """Conv whose stride-2 padding is symmetric (explicit pad), as torchvision and keras V2."""
    if kernel > 1 and (stride > 1 or opts.variant == "v2"):
        x = layers.ZeroPadding2D(kernel // 2, name=name.replace("_conv", "_pad"))(x)
        padding = "valid"
    else:
        padding = "same"
    return layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=padding,
        use_bias=bias,
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(opts.l2) if opts.l2 else None,
        name=name,
    )(x)


def _bn(x, name, opts, zero_gamma=False):
    return layers.BatchNormalization(
        axis=-1,
        momentum=opts.bn_momentum,
        epsilon=opts.bn_epsilon,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=name,
    )(x)


def _relu(x, name):
    return layers.Activation("relu", name=name)(x)


def _shortcut(x, out_channels, stride, name, opts):
    """Identity where shapes agree; else option A (zero-pad) or B (1x1 projection + BN)."""
    if stride == 1 and x.shape[-1] == out_channels:
        return x
    if opts.shortcut == "A":
        return ZeroPadShortcut(stride, out_channels, name=name + "_0_pad")(x)
    shortcut = _conv(x, out_channels, 1, stride, name + "_0_conv", opts, opts.bias(True))
    return _bn(shortcut, name + "_0_bn", opts)


def _drop_path(x, name, opts):
    """Stochastic depth: drop the residual branch of a whole sample, rescale the rest."""
    if not opts.drop_path:
        return x
    return layers.Dropout(opts.drop_path, noise_shape=(None, 1, 1, 1), name=name + "_drop_path")(x)


def _merge(shortcut, x, name, opts):
    if not opts.residual:
        return _relu(x, name + "_out")
    x = layers.Add(name=name + "_add")([shortcut, _drop_path(x, name, opts)])
    return _relu(x, name + "_out")


def _basic_block(x, filters, stride, name, opts):
    shortcut = _shortcut(x, filters, stride, name, opts) if opts.residual else None
    x = _conv(x, filters, 3, stride, name + "_1_conv", opts, opts.bias(True))
    x = _relu(_bn(x, name + "_1_bn", opts), name + "_1_relu")
    x = _conv(x, filters, 3, 1, name + "_2_conv", opts, opts.bias(True))
    x = _bn(x, name + "_2_bn", opts, zero_gamma=opts.zero_init_residual)
    return _merge(shortcut, x, name, opts)


def _bottleneck_block(x, filters, stride, name, opts):
    out_channels = 4 * filters
    shortcut = _shortcut(x, out_channels, stride, name, opts) if opts.residual else None
    # v1 (paper, keras.applications) strides in the first 1x1; v1.5 (torchvision) in the 3x3.
    stride_1x1, stride_3x3 = (stride, 1) if opts.variant == "v1" else (1, stride)
    x = _conv(x, filters, 1, stride_1x1, name + "_1_conv", opts, opts.bias(True))
    x = _relu(_bn(x, name + "_1_bn", opts), name + "_1_relu")
    x = _conv(x, filters, 3, stride_3x3, name + "_2_conv", opts, opts.bias(True))
    x = _relu(_bn(x, name + "_2_bn", opts), name + "_2_relu")
    x = _conv(x, out_channels, 1, 1, name + "_3_conv", opts, opts.bias(True))
    x = _bn(x, name + "_3_bn", opts, zero_gamma=opts.zero_init_residual)
    return _merge(shortcut, x, name, opts)


def _preact_block(x, filters, stride, name, opts, block):
    """Pre-activation (v2) block in the layout of keras.applications ResNetV2."""
    out_channels = filters * EXPANSION[block]
    preact = _relu(_bn(x, name + "_preact_bn", opts), name + "_preact_relu")
    if x.shape[-1] != out_channels:
        shortcut = _conv(preact, out_channels, 1, stride, name + "_0_conv", opts, opts.bias(True))
    elif stride > 1:
        shortcut = layers.MaxPooling2D(1, strides=stride, name=name + "_0_pool")(x)
    else:
        shortcut = x
    if block == "bottleneck":
        x = _conv(preact, filters, 1, 1, name + "_1_conv", opts, opts.bias(False))
        x = _relu(_bn(x, name + "_1_bn", opts), name + "_1_relu")
        x = _conv(x, filters, 3, stride, name + "_2_conv", opts, opts.bias(False))
        x = _relu(_bn(x, name + "_2_bn", opts), name + "_2_relu")
        x = _conv(x, out_channels, 1, 1, name + "_3_conv", opts, opts.bias(True))
    else:
        x = _conv(preact, filters, 3, stride, name + "_1_conv", opts, opts.bias(False))
        x = _relu(_bn(x, name + "_1_bn", opts), name + "_1_relu")
        x = _conv(x, filters, 3, 1, name + "_2_conv", opts, opts.bias(True))
    return layers.Add(name=name + "_out")([shortcut, _drop_path(x, name, opts)])


def _stem(x, arch, width_filters, opts):
    if arch.stem == "cifar":
        x = _conv(x, width_filters, 3, 1, "conv1_conv", opts, opts.bias(True))
        return _relu(_bn(x, "conv1_bn", opts), "conv1_relu")
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(
        width_filters,
        7,
        strides=2,
        use_bias=opts.bias(True),
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(opts.l2) if opts.l2 else None,
        name="conv1_conv",
    )(x)
    if opts.variant != "v2":
        x = _relu(_bn(x, "conv1_bn", opts), "conv1_relu")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def total_stride(name: str) -> int:
    """How much the network shrinks its input: the smallest side it accepts."""
    arch = _architecture(name)
    stem = 4 if arch.stem == "imagenet" else 1
    return stem * 2 ** (len(arch.depths) - 1)


def check_input_size(name: str, size, key: str = "input_shape") -> None:
    """Each known side of ``size`` (``key``'s value) at least the network's total
    stride, or a ParameterError naming ``key``."""
    stride = total_stride(name)
    if any(side is not None and side < stride for side in size[:2]):
        raise ParameterError(
            f"{key}={size!r} is smaller than {name}'s total stride {stride}: each side must "
            f"be at least {stride} pixels"
        )


def _architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ParameterError(
            f"name={name!r} is not a known network; allowed: {sorted(ARCHITECTURES)}"
        )
    return ARCHITECTURES[name]


def build_resnet(
    name: str,
    *,
    input_shape: tuple[int | None, int | None, int],
    num_classes: int = 1000,
    variant: str = "v1",
    include_top: bool = True,
    pooling: str | None = "avg",
    weights: str | None = None,
    shortcut: str | None = None,
    width: float = 1.0,
    conv_bias: bool | None = None,
    bn_momentum: float = 0.99,
    bn_epsilon: float = 1.001e-5,
    zero_init_residual: bool = False,
    l2: float = 0.0,
    stochastic_depth: float = 0.0,
    dropout: float = 0.0,
    classifier_activation: str | None = "softmax",
) -> keras.Model:
    """Build any ResNet of ``ARCHITECTURES`` as a functional ``keras.Model``.

    ``conv_bias=None`` follows keras.applications (biases in v1 convs, the V2 pattern
    in v2) so its weights load by name; ``False`` gives torchvision's bias-free convs.
    ``shortcut`` is the paper's option ``"A"`` (zero-padded identity, CIFAR default)
    or ``"B"`` (projection). ``stochastic_depth`` is the drop rate of the last block,
    growing linearly from 0 at the first. ``weights`` is ``None``, ``"imagenet"``
    (keras.applications' published weights: needs internet) or a ``.keras``,
    ``.weights.h5`` or keras.applications ``.h5`` file. The head computes in float32
    under any mixed-precision policy.
    """
    arch = _architecture(name)
    check_choice("variant", variant, VARIANTS[arch.family])
    shortcut = shortcut or ("A" if arch.family == "cifar" else "B")
    check_choice("shortcut", shortcut, SHORTCUTS[arch.family])
    check_choice("pooling", pooling, POOLINGS)
    if include_top and num_classes < 2:
        raise ParameterError(f"num_classes={num_classes} must be at least 2")
    if width <= 0:
        raise ParameterError(f"width={width} must be positive")
    if zero_init_residual and variant == "v2":
        raise ParameterError(
            "zero_init_residual=True needs a block that ends in BatchNorm: v1 or v1.5"
        )
    if not 0 <= stochastic_depth < 1:
        raise ParameterError(f"stochastic_depth={stochastic_depth} must be in [0, 1)")
    if len(input_shape) != 3:
        raise ParameterError(f"input_shape={input_shape} must be (height, width, channels)")
    check_input_size(name, tuple(input_shape))

    # None: keras.applications' bias layout where it has this network (v1, v2), else none.
    keras_layout = conv_bias is None and arch.family == "imagenet" and variant != "v1.5"
    opts = _Options(
        variant=variant,
        shortcut=shortcut,
        residual=arch.residual,
        conv_bias=None if keras_layout else bool(conv_bias),
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
        zero_init_residual=zero_init_residual,
        l2=l2,
    )

    def scaled(filters: int) -> int:
        return max(1, int(round(filters * width)))

    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = _stem(inputs, arch, scaled(arch.filters[0]), opts)
    last_stage = len(arch.depths) - 1
    last_block = max(1, sum(arch.depths) - 1)
    for stage, (depth, filters) in enumerate(zip(arch.depths, arch.filters)):
        for index in range(depth):
            block_name = f"conv{stage + 2}_block{index + 1}"
            block_number = sum(arch.depths[:stage]) + index
            opts = replace(opts, drop_path=stochastic_depth * block_number / last_block)
            if variant == "v2":
                # keras.applications ResNetV2 strides in the last block of every stage but the last.
                stride = 2 if index == depth - 1 and stage != last_stage else 1
                x = _preact_block(x, scaled(filters), stride, block_name, opts, arch.block)
            else:
                stride = 2 if index == 0 and stage > 0 else 1
                block = _bottleneck_block if arch.block == "bottleneck" else _basic_block
                x = block(x, scaled(filters), stride, block_name, opts)
    if variant == "v2":
        x = _relu(_bn(x, "post_bn", opts), "post_relu")

    if include_top or pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    if include_top:
        if dropout:
            x = layers.Dropout(dropout, name="top_dropout")(x)
        x = layers.Dense(
            num_classes, activation=classifier_activation, dtype="float32", name="predictions"
        )(x)
    model = keras.Model(inputs, x, name=f"{name}_{variant}".replace(".", "_"))
    if weights == "imagenet":
        load_imagenet_weights(model, name, variant, include_top=include_top)
    elif weights is not None:
        load_weights_file(model, weights)
    return model


IMAGENET_MODELS = {
    ("resnet50", "v1"): "ResNet50",
    ("resnet101", "v1"): "ResNet101",
    ("resnet152", "v1"): "ResNet152",
    ("resnet50", "v2"): "ResNet50V2",
    ("resnet101", "v2"): "ResNet101V2",
    ("resnet152", "v2"): "ResNet152V2",
}


# keras.applications' published ImageNet files (keras.src.applications.resnet): where they
# are downloaded from, and the md5 of each headless ("notop") file.
_KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
_NOTOP_MD5 = {
    "resnet50": "4d473c1dd8becc155b73f8504c6f6626",
    "resnet101": "88cf7a10940856eca736dc7b7e228a21",
    "resnet152": "ee4c566cf9a93f14d82f913c2dc6dd0c",
    "resnet50v2": "fac2f116257151a9d068a22e544a4917",
    "resnet101v2": "c0ed64b8031c3730f411d2eb4eea35b5",
    "resnet152v2": "ed17cf2e0169df9d443503ef94b23b33",
}
# Numbers of values (weights and BatchNorm statistics) in each headless keras.applications
# network: a weights file holding one of these counts (or that plus the 1000-class head,
# 2048 x 1000 + 1000) is that network's, whatever its name.
_NOTOP_VALUES = {
    ("resnet50", "v1"): 23_587_712,
    ("resnet101", "v1"): 42_658_176,
    ("resnet152", "v1"): 58_370_944,
    ("resnet50", "v2"): 23_564_800,
    ("resnet101", "v2"): 42_626_560,
    ("resnet152", "v2"): 58_331_648,
}
_TOP_VALUES = 2048 * 1000 + 1000
# What the ImageNet weights of each variant expect: input side and preprocessing.
IMAGENET_INPUT = {"v1": (224, "caffe"), "v2": (224, "tf")}


class WeightsUnavailable(RuntimeError):
    """ImageNet weights that could not be obtained; ``reason`` says why in a few words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def imagenet_file_name(name: str, variant: str) -> str:
    """The file keras.applications downloads for the headless network, e.g.
    ``resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``."""
    return f"{IMAGENET_MODELS[(name, variant)].lower()}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def fetch_imagenet_weights(name: str, variant: str, timeout: float = 20.0) -> Path:
    """The headless ImageNet weights file of ``(name, variant)`` in the Keras cache
    (``~/.keras/models``), downloaded there once and checked against its published md5.

    Raises ``WeightsUnavailable`` naming the reason: offline (or the server unreachable),
    or a checksum mismatch (a corrupt or tampered download, removed again)."""
    import socket

    file_name = imagenet_file_name(name, variant)
    model_name = IMAGENET_MODELS[(name, variant)].lower()
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        return Path(
            keras.utils.get_file(
                file_name,
                _KERAS_WEIGHTS_URL + file_name,
                cache_subdir="models",
                file_hash=_NOTOP_MD5[model_name],
            )
        )
    except ValueError as error:  # keras.utils.get_file: hash mismatch after download
        raise WeightsUnavailable(f"checksum mismatch for {file_name} ({error})") from None
    except Exception as error:  # noqa: BLE001 - get_file wraps URL errors in Exception
        cause = str(error).rpartition(" -- ")[2] or str(error)
        raise WeightsUnavailable(
            f"offline: {file_name} could not be downloaded ({cause})"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def imagenet_network_of_file(path: str | Path) -> tuple[str, str] | None:
    """``(architecture, variant)`` of a keras.applications-layout ResNet weights file
    (``.h5`` as downloaded, or ``.weights.h5`` from ``save_weights``), told by the
    number of values it holds; ``None`` for any other file."""
    import h5py

    total = 0

    def count(_, item):
        nonlocal total
        if isinstance(item, h5py.Dataset) and item.shape:
            total += int(item.size)

    try:
        with h5py.File(path, "r") as weights:
            weights.visititems(count)
    except OSError:
        return None
    for network, values in _NOTOP_VALUES.items():
        if total in (values, values + _TOP_VALUES):
            return network
    return None


def load_imagenet_weights(model: keras.Model, name: str, variant: str, include_top: bool) -> None:
    """Copy keras.applications' published ImageNet weights into ``model``: the headless
    file downloaded once into the Keras cache, or the whole network with its head."""
    if (name, variant) not in IMAGENET_MODELS:
        raise ParameterError(
            f"weights='imagenet' exists for (name, variant) in {sorted(IMAGENET_MODELS)}, "
            f"not {(name, variant)!r}"
        )
    if include_top and model.output_shape[-1] != 1000:
        raise ValueError("weights='imagenet' with include_top=True needs num_classes=1000")
    if include_top:
        application = getattr(keras.applications, IMAGENET_MODELS[(name, variant)])
        transfer_weights(application(include_top=True, weights="imagenet"), model)
    else:
        load_weights_file(model, fetch_imagenet_weights(name, variant))


def save_model(model: keras.Model, path: str | Path, version: str | None = None, **options):
    """Save ``model`` as a ``.keras`` file with its card inside (``models.card``), when it
    has one; ``version``: the catalog version it is saved as; ``options`` go to Keras."""
    from resnet_finetune.models.card import card_of, write_card

    keras.saving.save_model(model, path, **options)
    if (card := card_of(model, required=False)) is not None:
        write_card(path, card, version)


def load_model(path: str | Path) -> keras.Model:
    """A saved ``.keras`` model, uncompiled, in Keras's safe mode: a file whose layers
    would run arbitrary Python (a ``Lambda`` holding bytecode) is refused, naming it.
    A model card in the file (``models.card``) comes with it, once checked against the
    file's weights: an edited, swapped or doubled card is refused, naming the file."""
    from resnet_finetune.models.card import attach_card, read_card

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except ValueError as error:
        if "safe_mode" not in str(error):
            raise
        raise ValueError(
            f"{str(path)!r} holds code that would run when loaded (a Lambda layer); "
            "refused: only load it with keras.saving.load_model(..., safe_mode=False) if you "
            "trust its author"
        ) from error
    card = read_card(path)
    return attach_card(model, card) if card is not None else model


def load_weights_file(
    model: keras.Model, path: str | Path, *, parameter: str = "weights", check_only: bool = False
) -> int:
    """Copy a weights file into ``model`` layer by layer, every layer that has weights
    receiving them, or refuse: the count of layers matched is checked before any is set.

    The file is a keras.applications ``.h5`` (layers by name), a ``.weights.h5`` from
    ``save_weights`` (layers by Keras's path for this network's structure) or a ``.keras``
    model (layers by the names in its configuration; no code in it runs). ``check_only``
    reads only names and shapes: the check made before a run, on the same code path as
    the load. Returns how many layers were (or would be) set. A missing, unreadable or
    unfitting file raises ``FileNotFoundError`` / ``ValueError`` naming ``parameter``,
    the file, and how many layers matched of how many.
    """
    given = f"{parameter}={str(path)!r}"
    if not Path(path).is_file():
        raise ParameterError(f"{given}: no such file")
    with ExitStack() as opened:
        try:
            weights = _weights_in_file(Path(path), model, opened)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise ParameterError(
                f"{given} cannot be read: it is truncated or corrupt ({_first_line(error)}). "
                "Copy or download the file again"
            ) from None
        if weights is None:
            raise ParameterError(
                f"{given} is not a weights file: neither HDF5 (.h5, .weights.h5) nor a "
                "complete Keras archive (.keras); it may be truncated, or another kind of file"
            )
        fitting = _fitting_layers(model, weights, given)
        if check_only:
            return len(fitting)
        try:
            values = [[np.asarray(weight) for weight in saved] for _, saved in fitting]
        except OSError as error:
            raise ValueError(
                f"{given} cannot be read: its data is truncated or corrupt "
                f"({_first_line(error)}). Copy or download the file again"
            ) from None
    for (layer, _), layer_values in zip(fitting, values):
        layer.set_weights(layer_values)
    return len(fitting)


def transfer_weights(source: keras.Model, target: keras.Model) -> int:
    """Copy weights from every layer of ``source`` into the same-named layer of ``target``.

    Every layer of ``target`` that has weights must receive them, with fitting shapes;
    else a ``ValueError`` names how many matched and a layer that did not. Returns how
    many layers were copied.
    """
    weights = {layer.name: layer.weights for layer in leaf_layers(source)}
    fitting = _fitting_layers(target, weights, f"model {source.name!r}")
    for layer, saved in fitting:
        layer.set_weights([keras.ops.convert_to_numpy(weight) for weight in saved])
    return len(fitting)


def _fitting_layers(model: keras.Model, weights: dict[str, list], given: str) -> list:
    """``(layer, its weights in weights)`` for every layer of ``model`` that has weights,
    or a ``ValueError`` saying how many matched by name with fitting shapes, and how
    one did not. By-name loading skips unmatched layers silently: this is the count."""
    fitting, misfits, expected = [], [], 0
    for layer in leaf_layers(model):
        if not layer.weights:
            continue
        expected += 1
        saved = weights.get(layer.name)
        if saved is None:
            misfits.append(f"layer {layer.name!r}: no weights of that name")
            continue
        wanted = [tuple(weight.shape) for weight in layer.weights]
        shapes = [tuple(weight.shape) for weight in saved]
        if shapes != wanted:
            misfits.append(f"layer {layer.name!r}: weights of shape {shapes} do not fit {wanted}")
            continue
        fitting.append((layer, saved))
    if misfits:
        more = f"; {len(misfits) - 1} more layers do not fit" if len(misfits) > 1 else ""
        raise ParameterError(
            f"{given} does not fit {model.name}: {len(fitting)} of {expected} layers matched "
            f"by name with fitting shapes (e.g. {misfits[0]}{more}). Give weights saved from "
            "this network (same architecture, variant and width)"
        )
    return fitting


def _weights_in_file(path: Path, model: keras.Model, opened: ExitStack) -> dict | None:
    """Layer name -> that layer's weights (HDF5 datasets, read when used) in a weights
    file; ``None`` for a file that is neither HDF5 nor a zip archive."""
    import h5py

    if zipfile.is_zipfile(path):  # a .keras model: weights and the configuration naming them
        archive = opened.enter_context(zipfile.ZipFile(path))
        config = json.loads(archive.read("config.json"))
        weights = opened.enter_context(
            h5py.File(opened.enter_context(archive.open("model.weights.h5")), "r")
        )
        layers_config = config.get("config", {}).get("layers", [])
        return _saved_weights(weights, _saved_paths(_config_layers(layers_config)))
    if not h5py.is_hdf5(path):
        return None
    weights = opened.enter_context(h5py.File(path, "r"))
    by_name = weights.get("model_weights", weights)  # keras.applications or Keras 2 layout
    if "layer_names" in by_name.attrs:
        found = {}
        for name in map(_text, by_name.attrs["layer_names"]):
            group = by_name[name]
            found[name] = [group[_text(weight)] for weight in group.attrs["weight_names"]]
        return found
    # save_weights' layout: groups named by each layer's class and position, not its name.
    return _saved_weights(weights, _saved_paths(_model_layers(model)))


def _saved_weights(weights, paths: dict[str, str]) -> dict[str, list]:
    found = {}
    for name, path in paths.items():
        variables = weights.get(f"{path}/vars")
        if variables is not None:
            found[name] = [variables[str(index)] for index in range(len(variables))]
    return found


def _saved_paths(entries: list, prefix: str = "layers") -> dict[str, str]:
    """Layer name -> its group in a Keras 3 weights file. ``entries`` are ``(class name,
    layer name, nested entries or None)`` in the model's order: Keras names each group
    after the layer's class and how many of that class came before it."""
    paths: dict[str, str] = {}
    used: dict[str, int] = {}
    for class_name, name, nested in entries:
        group = _snake_case(class_name)
        used[group] = used.get(group, -1) + 1
        if used[group]:
            group = f"{group}_{used[group]}"
        if nested is None:
            paths.setdefault(name, f"{prefix}/{group}")
        else:
            for inner, inner_path in _saved_paths(nested, f"{prefix}/{group}/layers").items():
                paths.setdefault(inner, inner_path)
    return paths


def _model_layers(model: keras.Model) -> list:
    return [
        (type(layer).__name__, layer.name, _model_layers(layer))
        if isinstance(layer, keras.Model)
        else (type(layer).__name__, layer.name, None)
        for layer in model.layers
    ]


def _config_layers(layers_config: list) -> list:
    entries = []
    for layer in layers_config:
        inner = layer.get("config", {})
        nested = _config_layers(inner["layers"]) if "layers" in inner else None
        entries.append((layer["class_name"], inner.get("name"), nested))
    return entries


def _snake_case(class_name: str) -> str:
    """A class name as Keras writes it into weights files (``keras.src.utils.naming``)."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def all_layers(model: keras.Model):
    """Every layer of ``model`` in order, a nested model followed by its own layers."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def seed_states(layer: keras.Layer) -> list[keras.Variable]:
    """The states of the random generators of ``layer`` and the layers inside it
    (augmentation, dropout): Keras saves them with neither the weights nor the model."""
    return [v for v in layer.non_trainable_variables if v.name == "seed_generator_state"]


def leaf_layers(model: keras.Model):
    """Every layer of ``model`` in order, nested models opened in place."""
    return (layer for layer in all_layers(model) if not isinstance(layer, keras.Model))
