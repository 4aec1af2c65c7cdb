"""An export folder says what its model means: labels.txt, model.json, ONNX metadata; and
the onnxruntime example of docs/GUIDE.md labels images as the project does, with neither
TensorFlow nor Keras in its process."""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from resnet_finetune.evaluation.inference import predict_probabilities
from resnet_finetune.export import export_model
from resnet_finetune.export.description import (
    ONNX_METADATA_KEY,
    model_description,
    write_description,
)
from resnet_finetune.models import build_backbone, build_classifier
from resnet_finetune.models.card import attach_card, make_card
from tests.conftest import write_image
from tests.training.test_training import CONFIG

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["cat & dog", "sea lion (adult)", "猫"]
SIZE = (16, 16)
# A deployment has none of these: the example must run without them.
_ABSENT = ("tensorflow", "keras", "resnet_finetune", "tf2onnx", "jax")
_BLOCKER = f"""
import importlib.abc, runpy, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {_ABSENT!r}:
            raise ModuleNotFoundError(f"no module named {{name!r}} where the model is deployed")
sys.meta_path.insert(0, Absent())
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
assert not set({_ABSENT!r}) & {{m.split(".")[0] for m in sys.modules}}
"""


def guide_example() -> str:
    """The Python block of docs/GUIDE.md that starts with ``# classify_onnx.py``."""
    guide = (ROOT / "docs" / "GUIDE.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```python\n(# classify_onnx\.py.*?)```", guide, re.DOTALL)
    return block


def held_out_images(folder: Path) -> pd.DataFrame:
    """Held-out images of each class at the model's own size, as manifest rows."""
    rows = []
    for index, label in enumerate(CLASSES):
        for copy in range(3):
            path = write_image(folder / label / f"{copy}.png", size=SIZE, seed=10 * index + copy)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            rows.append(
                {
                    "path": str(path),
                    "read_path": str(path),
                    "label": label,
                    "class_index": index,
                    "split": "test",
                    "sha256": digest,
                    "format": "PNG",
                    "width": SIZE[1],
                    "height": SIZE[0],
                }
            )
    return pd.DataFrame(rows)


def test_the_export_folder_says_what_its_outputs_mean_and_the_guide_example_agrees(tmp_path):
    rows = held_out_images(tmp_path / "images")
    model = build_classifier(build_backbone(CONFIG), len(CLASSES), image_size=SIZE)
    card = make_card(
        rows,
        {name: index for index, name in enumerate(CLASSES)},
        None,
        image_size=SIZE,
        resize="squash",
        preprocessing="tf",
        parameters={"target": {"validation": {"background": [255, 255, 255]}}},
        dataset_sha256="d" * 64,
    )
    attach_card(model, card)
    folder = tmp_path / "exports"
    model(np.zeros((1, *SIZE, 3), "uint8"))
    export_model(model, folder, np.zeros((0, *SIZE, 3), "uint8"), ["onnx"])
    scores = {"split": "test", "images": len(rows), "accuracy": 0.5}
    card.version, card.weights_sha256 = "2026-12-02T10.00.00.000Z", "w" * 64
    write_description(folder, model_description(card, scores))

    assert (folder / "labels.txt").read_text(encoding="utf-8").splitlines() == CLASSES
    about = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert about["class_names"] == CLASSES
    assert about["input"] | {"resize_method": None} == {
        "shape": [None, 16, 16, 3],
        "height": 16,
        "width": 16,
        "layout": "NHWC",
        "dtype": "uint8",
        "colour": "RGB, 0-255",
        "resize": "squash",
        "resize_method": None,
        "transparent_pixels_on": [255, 255, 255],
    }
    assert about["model"]["version"] == "2026-12-02T10.00.00.000Z"
    assert about["model"]["weights_sha256"] == "w" * 64
    assert about["model"]["dataset_sha256"] == "d" * 64
    assert about["scores"] == scores

    script = tmp_path / "classify_onnx.py"
    script.write_text(guide_example(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKER, str(script), str(folder), *rows["path"]],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    printed = [line.split("\t") for line in done.stdout.splitlines()]
    assert [path for path, _, _ in printed] == rows["path"].tolist()
    project = predict_probabilities(model, rows)
    assert [label for _, label, _ in printed] == [CLASSES[i] for i in project.argmax(axis=1)]
    np.testing.assert_allclose([float(p) for _, _, p in printed], project.max(axis=1), atol=1e-4)

    import onnxruntime

    session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
    embedded = session.get_modelmeta().custom_metadata_map[ONNX_METADATA_KEY]
    assert json.loads(embedded) == about
