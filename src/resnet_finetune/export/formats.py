"""Export a Keras classifier to TensorFlow SavedModel, ONNX and TFLite/LiteRT (float32,
float16, int8), and check every export in its own runtime against the Keras model.

Keras's own ``Model.export`` does the converting (tf2onnx for ONNX, the TFLite converter
for LiteRT); the runtimes are TensorFlow, onnxruntime and the LiteRT interpreter
(``ai-edge-litert``). Every export takes uint8 images, as the Keras model does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

# The project's own layers register themselves for loading a saved .keras model.
import resnet_finetune.data.augment  # noqa: F401
from resnet_finetune.checks import check_count, check_range
from resnet_finetune.errors import ExportRuntimeMissing, ParameterError
from resnet_finetune.models import load_model  # also registers the project's layers

# format -> file or folder name inside the export folder
FORMATS = {
    "saved_model": "saved_model",
    "onnx": "model.onnx",
    "tflite_float32": "model_float32.tflite",
    "tflite_float16": "model_float16.tflite",
    "tflite_int8": "model_int8.tflite",
}


def _litert_options(name: str, representative_images: np.ndarray) -> dict:
    """TFLite converter settings: float16 weights, or int8 weights and activations
    calibrated on ``representative_images`` (post-training quantisation)."""
    import tensorflow as tf

    if name == "tflite_float32":
        return {}
    if name == "tflite_float16":
        return {
            "optimizations": [tf.lite.Optimize.DEFAULT],
            "target_spec": {"supported_types": [tf.float16]},
        }

    def representative_dataset():
        for image in representative_images:
            yield [image[None]]

    return {
        "optimizations": [tf.lite.Optimize.DEFAULT],
        "representative_dataset": representative_dataset,
    }


# format -> the packages (import name, distribution) it needs beyond TensorFlow and Keras,
# for converting and for checking the export in its own runtime: the `export` extra.
RUNTIMES = {
    "onnx": (("tf2onnx", "tf2onnx"), ("onnxruntime", "onnxruntime")),
    "tflite_float32": (("ai_edge_litert", "ai-edge-litert"),),
    "tflite_float16": (("ai_edge_litert", "ai-edge-litert"),),
    "tflite_int8": (("ai_edge_litert", "ai-edge-litert"),),
}
INSTALL_EXPORT = 'pip install -e ".[export]"'


def require_runtimes(formats: Iterable[str]) -> None:
    """Raise ``ExportRuntimeMissing`` naming the packages ``formats`` need and lack."""
    import importlib.util

    missing = {}
    for name in formats:
        for module, distribution in RUNTIMES.get(name, ()):
            if importlib.util.find_spec(module) is None:
                missing.setdefault(distribution, []).append(name)
    if missing:
        needs = "; ".join(f"{d} (for {', '.join(f)})" for d, f in missing.items())
        raise ExportRuntimeMissing(
            f"export.formats needs packages that are not installed: {needs}. Install them "
            f"with `{INSTALL_EXPORT}` from the project root, or leave those formats out, "
            'e.g. --params "export.formats=[saved_model]"'
        )


def check_formats(formats: list[str] | tuple[str, ...]) -> None:
    if unknown := sorted(set(formats) - set(FORMATS)):
        raise ParameterError(f"export.formats: {unknown} not allowed; allowed: {list(FORMATS)}")


@dataclass(frozen=True)
class ExportOptions:
    """The ``export`` parameter block: what ``kedro run --pipeline export`` writes and how
    each export is checked.

    formats: of ``FORMATS``; calibration_images: training images that calibrate int8
    quantisation; float_agreement: in (0, 1], the top-1 agreement with the Keras model a
    float export must reach; latency_repeats: single-image predictions timed per format
    (the median is reported).
    """

    formats: tuple[str, ...] = tuple(FORMATS)
    calibration_images: int = 200
    float_agreement: float = 0.99
    latency_repeats: int = 50

    # Unknown keys are typos; YAML gives the formats as a list.
    __pydantic_config__ = {"extra": "forbid"}

    def __post_init__(self):
        object.__setattr__(self, "formats", tuple(self.formats))
        check_formats(self.formats)
        check_count("calibration_images", self.calibration_images, minimum=1)
        check_range("float_agreement", self.float_agreement, 0.0, 1.0, open_low=True)
        check_count("latency_repeats", self.latency_repeats, minimum=1)


def export_model(
    model: keras.Model,
    folder: Path,
    representative_images: np.ndarray,
    formats: list[str] | tuple[str, ...] = tuple(FORMATS),
) -> dict[str, Path]:
    """Write ``formats`` of ``model`` into ``folder``; return the path of each."""
    check_formats(formats)
    require_runtimes(formats)
    if "tflite_int8" in formats and len(representative_images) == 0:
        raise ValueError("int8 quantisation needs representative images: none were given")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in formats:
        path = folder / FORMATS[name]
        if name == "saved_model":
            model.export(str(path), format="tf_saved_model", verbose=False)
        elif name == "onnx":
            model.export(str(path), format="onnx", verbose=False)
        else:
            options = _litert_options(name, representative_images)
            model.export(str(path), format="litert", verbose=False, **options)
        paths[name] = path
    return paths


def predictor(name: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A function from a uint8 image batch to class probabilities, in the runtime of
    format ``name`` (``keras`` for a ``.keras`` file)."""
    path = str(path)
    require_runtimes([name])
    if name == "keras":
        model = load_model(path)
        return model.predict_on_batch  # Keras's compiled inference step
    if name == "saved_model":
        import tensorflow as tf

        serve = tf.saved_model.load(path).signatures["serving_default"]
        return lambda images: next(iter(serve(tf.constant(images)).values())).numpy()
    if name == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        return lambda images: session.run(None, {input_name: images})[0]
    if name.startswith("tflite"):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=path)
        source = interpreter.get_input_details()[0]["index"]
        target = interpreter.get_output_details()[0]["index"]

        def run(images):
            interpreter.resize_tensor_input(source, images.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(source, images)
            interpreter.invoke()
            return interpreter.get_tensor(target).copy()

        return run
    raise ValueError(f"no runtime for format {name!r}; known: ['keras', *{list(FORMATS)}]")


def _size_mib(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(f.stat().st_size for f in files) / 2**20


def _latency_ms(predict: Callable, images: np.ndarray, repeats: int) -> float:
    """Median time of one image through ``predict`` (after one warm-up call)."""
    predict(images[:1])
    times = []
    for index in range(repeats):
        image = images[index % len(images)][None]
        start = time.perf_counter()
        predict(image)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000


def check_exports(
    paths: dict[str, Path],
    batches: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
    latency_repeats: int = 50,
) -> pd.DataFrame:
    """One row per format of ``paths`` (the first, ``keras``, is the reference): size on
    disk, latency of one image, top-1 agreement with the reference and accuracy over the
    ``(uint8 images, class indices)`` batches that ``batches()`` yields afresh for each
    format, and the change in accuracy."""
    rows, reference = [], None
    for name, path in paths.items():
        predict = predictor(name, path)
        predicted, labels, sample = [], [], None
        for images, batch_labels in batches():
            predicted.append(predict(images).argmax(axis=1))
            labels.append(np.asarray(batch_labels))
            sample = images if sample is None else sample
        if sample is None:
            raise ValueError("no image to check the exports on")
        top1, labels = np.concatenate(predicted), np.concatenate(labels)
        reference = top1 if reference is None else reference
        rows.append(
            {
                "format": name,
                "size_mib": round(_size_mib(Path(path)), 3),
                "latency_ms": round(_latency_ms(predict, sample, latency_repeats), 3),
                "top1_agreement": float((top1 == reference).mean()),
                "accuracy": float((top1 == labels).mean()),
                "images": len(labels),
            }
        )
    table = pd.DataFrame(rows)
    table["accuracy_change"] = table["accuracy"] - table["accuracy"].iloc[0]
    return table
