"""What an exported model means, written beside it for whoever deploys it.

An ONNX or TFLite file is a graph: it does not say what output 3 is, what size of image
it takes or how to shrink a photo to that size. ``labels.txt`` (class names in output
order, one per line) and ``model.json`` (input, resizing, preprocessing, classes, the
model's identity and its held-out scores) say it for every format in the folder, and
the ONNX file carries the same JSON in its metadata (``onnxruntime``:
``session.get_modelmeta().custom_metadata_map["resnet_finetune"]``).
"""

from __future__ import annotations

import json
from pathlib import Path

LABELS_FILE = "labels.txt"
DESCRIPTION_FILE = "model.json"
ONNX_METADATA_KEY = "resnet_finetune"
# Bump when a key of model.json changes meaning.
DESCRIPTION_VERSION = 1

# How each input.resize mode brings an image to the model's size (data.input_pipeline).
RESIZE_METHODS = {
    "squash": "resize to height x width, ignoring the aspect ratio",
    "centre_crop": "crop the largest centred region of the model's aspect ratio, then resize",
    "pad": "resize to fit inside height x width keeping the aspect ratio, then pad with "
    "zeros (black) around it, centred",
}


def model_description(card, scores: dict) -> dict:
    """The deployment facts of the model whose card is ``card``. ``scores``: what the
    export check measured on the held-out split (per format)."""
    height, width = card.image_size
    background = (card.parameters.get("target") or {}).get("validation", {}).get("background")
    return {
        "description_version": DESCRIPTION_VERSION,
        "class_names": list(card.class_names),
        "input": {
            "shape": [None, height, width, 3],
            "height": height,
            "width": width,
            "layout": "NHWC",
            "dtype": "uint8",
            "colour": "RGB, 0-255",
            "resize": card.resize,
            "resize_method": RESIZE_METHODS[card.resize],
            "transparent_pixels_on": list(background) if background else None,
        },
        "preprocessing": {
            "mode": card.preprocessing,
            "inside_the_model": True,
            "note": "feed raw uint8 RGB pixels: the model normalises them itself",
        },
        "output": {
            "values": "probabilities (softmax), one per class, in class_names order",
            "labels_file": LABELS_FILE,
        },
        "model": {
            "version": card.version,
            "weights_sha256": card.weights_sha256,
            "dataset_sha256": card.data.get("dataset_sha256"),
            "held_out_split": card.data.get("held_out_split"),
            "held_out_sha256": card.data.get("held_out_sha256"),
        },
        "scores": scores,
    }


def write_description(folder: Path, description: dict) -> None:
    """``labels.txt`` and ``model.json`` in ``folder``; the JSON also inside an ONNX
    model there."""
    folder = Path(folder)
    names = description["class_names"]
    if any("\n" in name or "\r" in name for name in names):
        raise ValueError(f"class names with line breaks cannot be written one per line: {names}")
    (folder / LABELS_FILE).write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    text = json.dumps(description, indent=1, ensure_ascii=False)
    (folder / DESCRIPTION_FILE).write_text(text + "\n", encoding="utf-8")
    onnx_file = folder / "model.onnx"
    if onnx_file.exists():
        embed_onnx_metadata(onnx_file, text)


def embed_onnx_metadata(path: Path, text: str) -> None:
    """Put ``text`` into the ONNX model's metadata under ``ONNX_METADATA_KEY``."""
    import onnx

    model = onnx.load(str(path))
    kept = [entry for entry in model.metadata_props if entry.key != ONNX_METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=ONNX_METADATA_KEY, value=text)
    onnx.save(model, str(path))
