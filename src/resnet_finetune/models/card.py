"""What a trained model is, carried inside its own ``.keras`` file.

A model file alone does not say which class an output index means, how its images were
read, what made it, or which images it must never be scored on. The card says all of
that and travels in the same zip archive as the weights (Keras ignores entries it does
not know), so a model loaded from any version, copied to another machine or logged to
MLflow is always read with its own class names and its own held-out split.
"""

from __future__ import annotations

import hashlib
import io
import json
import weakref
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is not needed to build or load bare models (the benchmark)
    import pandas as pd

_FOLDER = "resnet_finetune"
_CARD, _MANIFEST, _HISTORY = (
    f"{_FOLDER}/{name}" for name in ("card.json", "manifest.csv", "history.csv")
)
_CARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# The parameter blocks that make a model, recorded in its card and shown in its report.
CARD_PARAMETERS = (
    "recipe",  # where the backbone started and why each `auto` value was chosen
    "seed",
    "backbone",
    "source",
    "pretrain",
    "target",
    "finetune",
    "baseline",
    "compute",
)


@dataclass
class ModelCard:
    """``class_names`` in output order; how images are read (``image_size``, ``resize``,
    ``preprocessing``); the ``parameters`` that made the model; ``data``: the dataset's
    hash, which split was held out (``held_out_split``), which chose the best epoch
    (``selection_split``), the ingestion summary; ``manifest``: every image with its
    label and split; ``history``: the per-epoch metrics of its training."""

    class_names: list[str]
    image_size: list[int]
    resize: str
    preprocessing: str
    parameters: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    manifest: pd.DataFrame | None = None
    history: pd.DataFrame | None = None

    @property
    def class_map(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.class_names)}

    @property
    def held_out_split(self) -> str:
        return self.data["held_out_split"]

    def rows(self, split: str) -> pd.DataFrame:
        """The manifest rows of one split."""
        return self.manifest[self.manifest["split"] == split]


def rows_sha256(rows: pd.DataFrame) -> str:
    """One hash for a set of images with their labels, in any row order."""
    lines = sorted(
        "\t".join(map(str, row)) for row in rows[["sha256", "label"]].itertuples(index=False)
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def attach_card(model, card: ModelCard):
    """Give ``model`` its card (kept beside the object, saved into its file)."""
    _CARDS[model] = card
    return model


def card_of(model, required: bool = True) -> ModelCard | None:
    """The card of ``model``; a clear error when it has none and one is ``required``."""
    card = _CARDS.get(model)
    if card is None and required:
        raise ValueError(
            f"model {model.name!r} carries no model card (class names, held-out split): it "
            "was not made by this project's training, or was saved by an older version. "
            "Train it again with `kedro run --pipeline finetune`"
        )
    return card


def write_card(path: str | Path, card: ModelCard) -> None:
    """Add ``card`` to the ``.keras`` archive at ``path``."""
    text = {key: value for key, value in asdict(card).items() if key not in ("manifest", "history")}
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_CARD, json.dumps(text, indent=1, default=str))
        for name, table in ((_MANIFEST, card.manifest), (_HISTORY, card.history)):
            if table is not None:
                archive.writestr(name, table.to_csv(index=False))


def read_card(path: str | Path) -> ModelCard | None:
    """The card inside the ``.keras`` archive at ``path``, or ``None`` if it has none."""
    import pandas as pd

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if _CARD not in names:
            return None
        card = ModelCard(**json.loads(archive.read(_CARD)))
        if _MANIFEST in names:
            card.manifest = pd.read_csv(
                io.BytesIO(archive.read(_MANIFEST)),
                dtype={
                    c: str
                    for c in (
                        "label",
                        "split",
                        "sha256",
                        "mode",
                        "read_path",
                        "format",
                        "split_origin",
                        "phash",
                        "duplicate_group",
                        "correction",
                    )
                },
                keep_default_na=False,
            )
        if _HISTORY in names:
            card.history = pd.read_csv(io.BytesIO(archive.read(_HISTORY)))
    return card


def held_out_split_of(manifest: pd.DataFrame) -> str:
    """``test`` when the data has one; else ``val``, which then also chose the best epoch."""
    return "test" if (manifest["split"] == "test").any() else "val"


def make_card(
    manifest: pd.DataFrame,
    class_map: dict[str, int],
    history: pd.DataFrame | None,
    *,
    image_size,
    resize: str,
    preprocessing: str,
    parameters: dict,
    dataset_sha256: str,
    summary: dict | None = None,
    start_weights: dict | None = None,
    calibration: dict | None = None,
) -> ModelCard:
    """The card of a model trained on ``manifest``'s train split, its best epoch chosen
    on the val split. ``start_weights``: the weights file it started from
    (``start_weights_path``, ``start_weights_sha256``), recorded in ``data``;
    ``calibration``: the temperature fitted on the val split and the calibration error
    before and after (``evaluation.calibration.calibrate``), ``data["calibration"]``."""
    held_out = held_out_split_of(manifest)
    return ModelCard(
        class_names=[name for name, _ in sorted(class_map.items(), key=lambda item: item[1])],
        image_size=[int(side) for side in image_size],
        resize=resize,
        preprocessing=preprocessing,
        parameters={key: parameters[key] for key in CARD_PARAMETERS if key in parameters},
        data={
            "dataset_sha256": dataset_sha256,
            "held_out_split": held_out,
            "held_out_sha256": rows_sha256(manifest[manifest["split"] == held_out]),
            "selection_split": "val",
            "images_per_split": {k: int(v) for k, v in manifest["split"].value_counts().items()},
            "summary": summary or {},
            **(start_weights or {}),
            **({"calibration": calibration} if calibration else {}),
        },
        manifest=manifest.reset_index(drop=True),
        history=history,
    )
