"""What a trained model is, carried inside its own ``.keras`` file.

A model file alone does not say which class an output index means, how its images were
read, what made it, or which images it must never be scored on. The card says all of
that and travels in the same zip archive as the weights (Keras ignores entries it does
not know), so a model loaded from any version, copied to another machine or logged to
MLflow is always read with its own class names and its own held-out split.

The card stays light however large the data: it keeps the held-out split's rows in full
(they are scored) and, of every other image, only the first 8 bytes of its SHA-256 (to
refuse scoring a held-out image the model has seen); what needs the other rows reads the
versioned manifest the model was trained on (``evaluation.inference.training_manifest``).

The card is bound to the weights it describes: it carries their digest
(``weights_sha256``), and a digest of the card itself (card, held-out rows, seen digests,
history and the weights digest) lies beside it in ``card.sha256``. ``read_card`` recomputes both and
refuses a file whose card was edited, taken from another model or doubled (a zip can hold
two entries of one name, and readers disagree on which one counts). This catches
mistakes and careless edits; it is not a signature: whoever can write the file can
rewrite both digests.
"""

from __future__ import annotations

import hashlib
import io
import json
import weakref
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_finetune.trees import plain

if TYPE_CHECKING:  # pandas is not needed to build or load bare models (the benchmark)
    import numpy as np
    import pandas as pd

_FOLDER = "resnet_finetune"
_CARD, _HELD_OUT, _SEEN, _HISTORY, _CARD_DIGEST = (
    f"{_FOLDER}/{name}"
    for name in ("card.json", "held_out.csv", "seen_sha256.u64", "history.csv", "card.sha256")
)
_OLDER_MANIFEST = f"{_FOLDER}/manifest.csv"  # older cards carried every image's row
# The held-out rows' columns that scoring reads (images, labels, the files' identity).
HELD_OUT_COLUMNS = (
    "path",
    "label",
    "class_index",
    "split",
    "sha256",
    "width",
    "height",
    "read_path",
    "format",
)
_TEXT_COLUMNS = ("label", "split", "sha256", "read_path", "format")
_WEIGHTS = "model.weights.h5"  # Keras's entry for the weights in a .keras archive
_CARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# The parameter blocks that make a model, recorded in its card and shown in its report.
CARD_PARAMETERS = (
    "recipe",  # where the backbone started and why each `auto` value was chosen
    "seed",
    "backbone",
    "source",
    "pretrain",
    "synthetic",  # the generated images of backbone.weights: synthetic
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
    (``selection_split``), the ingestion summary; ``held_out``: the held-out split's
    images (``HELD_OUT_COLUMNS``); ``history``: the per-epoch metrics of its training;
    ``seen_sha256``: every other image (trained or selected on) as the first 8 bytes of
    its SHA-256, a sorted ``uint64`` array;
    ``weights_sha256``: the digest of the weights it describes
    (``archive_weights_sha256``) and ``version``: the catalog version the model was saved
    as, both set when it is written into a model file."""

    class_names: list[str]
    image_size: list[int]
    resize: str
    preprocessing: str
    parameters: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    held_out: pd.DataFrame | None = None
    history: pd.DataFrame | None = None
    seen_sha256: np.ndarray | None = None
    weights_sha256: str = ""
    version: str | None = None

    @property
    def class_map(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.class_names)}

    @property
    def held_out_split(self) -> str:
        return self.data["held_out_split"]


def sha256_prefixes(digests) -> np.ndarray:
    """The first 8 bytes of each hex SHA-256 of ``digests``, as ``uint64``: what the card
    keeps of the images it does not list. Two different images share a prefix with odds
    of 2**-64 per pair: among 150,000 held-out and 850,000 other images (a million in
    all), a held-out image wrongly taken for a seen one about once in 10**8 such models,
    and then it is refused, never scored wrongly."""
    import numpy as np

    return np.frombuffer(bytes.fromhex("".join(d[:16] for d in digests)), ">u8").astype("uint64")


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


def archive_weights_sha256(archive: zipfile.ZipFile) -> str:
    """SHA-256 of the weight values in a ``.keras`` archive: every array of its weights
    entry but the optimizer's, by name, with its type and shape. Values, not the entry's
    bytes: a model saved after training carries its optimizer's state, the same model
    loaded and saved again does not, and both make the same predictions. Empty when the
    archive holds no weights."""
    import h5py
    import numpy as np

    if _WEIGHTS not in archive.namelist():
        return ""
    digest = hashlib.sha256()
    with h5py.File(io.BytesIO(archive.read(_WEIGHTS)), "r") as weights:
        names: list[str] = []
        weights.visit(names.append)
        for name in sorted(names):
            if isinstance(weights[name], h5py.Dataset) and not name.startswith("optimizer/"):
                value = np.ascontiguousarray(weights[name][()])
                digest.update(f"{name}\t{value.dtype.str}\t{value.shape}\n".encode())
                digest.update(value.tobytes())
    return digest.hexdigest()


def _card_sha256(archive: zipfile.ZipFile, weights: str) -> str:
    """SHA-256 of the card's entries (card, held-out rows, seen digests, history) and of
    the weights digest."""
    names = set(archive.namelist())
    digest = hashlib.sha256()
    for name in (_CARD, _HELD_OUT, _SEEN, _HISTORY):
        content = archive.read(name) if name in names else b""
        digest.update(f"{name}\t{len(content)}\n".encode() + content)
    digest.update(weights.encode())
    return digest.hexdigest()


def write_card(path: str | Path, card: ModelCard, version: str | None = None) -> None:
    """Add ``card`` to the ``.keras`` archive at ``path`` (which has none yet), bound to
    the archive's weights by their digest; ``version``: the catalog version the archive
    is saved as (kept from the card when not given)."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        if _CARD in archive.namelist():
            raise ValueError(f"{str(path)!r} already carries a model card")
        weights = archive_weights_sha256(archive)
        tables = ("held_out", "history", "seen_sha256")
        text = {f.name: getattr(card, f.name) for f in fields(card) if f.name not in tables}
        archive.writestr(
            _CARD,
            json.dumps(
                {**text, "weights_sha256": weights, "version": version or card.version},
                indent=1,
                default=str,
            ),
        )
        for name, table in ((_HELD_OUT, card.held_out), (_HISTORY, card.history)):
            if table is not None:
                archive.writestr(name, table.to_csv(index=False))
        if card.seen_sha256 is not None:
            archive.writestr(_SEEN, card.seen_sha256.astype(">u8").tobytes())
        archive.writestr(_CARD_DIGEST, _card_sha256(archive, weights))


def _check_binding(path: str | Path, archive: zipfile.ZipFile) -> None:
    """Refuse an archive whose card was edited or describes other weights than its own."""
    why = None
    if _CARD_DIGEST not in archive.namelist():
        why = "it carries no digest (written by an older version of this project)"
    elif _OLDER_MANIFEST in archive.namelist():
        why = "it carries the whole manifest (written by an older version of this project)"
    elif archive.read(_CARD_DIGEST).decode(errors="replace").strip() != _card_sha256(
        archive, archive_weights_sha256(archive)
    ):
        why = "the card was edited, or it is another model's card"
    if why:
        raise ValueError(
            f"the model card in {str(path)!r} does not match the model: {why}. Refused, as "
            "it could label predictions with the wrong class names; retrain the model "
            "(`kedro run --pipeline finetune`) or restore the file"
        )


def read_card(path: str | Path) -> ModelCard | None:
    """The card inside the ``.keras`` archive at ``path``, or ``None`` if it has none.
    An archive holding two entries of one name, or a card that does not match the
    weights or its own digest, is refused naming the file."""
    import numpy as np
    import pandas as pd

    with zipfile.ZipFile(path) as archive:
        listed = archive.namelist()
        doubled = sorted({name for name in listed if listed.count(name) > 1})
        if doubled:
            raise ValueError(
                f"{str(path)!r} holds more than one entry named {doubled[0]!r}: refused, "
                "since which one counts depends on the reader; retrain the model or restore "
                "the file"
            )
        if _CARD not in listed:
            return None
        _check_binding(path, archive)
        card = ModelCard(**json.loads(archive.read(_CARD)))
        if _HELD_OUT in listed:
            card.held_out = pd.read_csv(
                io.BytesIO(archive.read(_HELD_OUT)),
                dtype=dict.fromkeys(_TEXT_COLUMNS, str),
                keep_default_na=False,
            )
        if _SEEN in listed:
            card.seen_sha256 = np.frombuffer(archive.read(_SEEN), ">u8").astype("uint64")
        if _HISTORY in listed:
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
    import numpy as np

    held_out = held_out_split_of(manifest)
    in_held_out = manifest["split"] == held_out
    return ModelCard(
        class_names=[name for name, _ in sorted(class_map.items(), key=lambda item: item[1])],
        image_size=[int(side) for side in image_size],
        resize=resize,
        preprocessing=preprocessing,
        parameters={key: plain(parameters[key]) for key in CARD_PARAMETERS if key in parameters},
        data={
            "dataset_sha256": dataset_sha256,
            "held_out_split": held_out,
            "held_out_sha256": rows_sha256(manifest[in_held_out]),
            "selection_split": "val",
            "images_per_split": {k: int(v) for k, v in manifest["split"].value_counts().items()},
            "summary": summary or {},
            **(start_weights or {}),
            **({"calibration": calibration} if calibration else {}),
        },
        held_out=manifest.loc[in_held_out, list(HELD_OUT_COLUMNS)].reset_index(drop=True),
        history=history,
        seen_sha256=np.sort(sha256_prefixes(manifest.loc[~in_held_out, "sha256"])),
    )


def baseline_facts(card: ModelCard) -> dict:
    """Which from-scratch baseline a card describes and what it cost: its network, the
    size it trained at (images resized inside the model), its epochs and seconds."""
    backbone = card.parameters.get("backbone") or {}
    baseline = card.parameters.get("baseline") or {}
    history = card.history
    timed = history is not None and "seconds" in history
    return {
        "network": f"{backbone.get('architecture')} width {backbone.get('width', 1.0)}",
        "image_size": list(baseline.get("image_size") or card.image_size),
        "epochs": 0 if history is None else len(history),
        "seconds": round(float(history["seconds"].sum()), 1) if timed else None,
    }


def pretraining_settings(parameters: dict) -> dict:
    """What makes the weights of ``backbone.weights: synthetic`` besides the run's seed
    and hardware: the generated images (``synthetic``, not the folder they are written
    under), the network (``backbone`` but its ``weights``), the ``source`` block (how the
    images are read, split and augmented, not where they are) and the ``pretrain``
    options. A saved pretrained model whose card gives the same settings serves a run
    instead of pretraining again. As JSON holds them (lists, not tuples)."""
    from resnet_finetune.data.identity import task_settings
    from resnet_finetune.data.synthetic import SyntheticImages

    parameters = plain(parameters)  # a run's typed blocks and a card's mappings alike
    backbone = parameters.get("backbone") or {}
    settings = {
        "synthetic": SyntheticImages(**(parameters.get("synthetic") or {})).settings(),
        "network": {key: value for key, value in backbone.items() if key != "weights"},
        "source": task_settings(parameters.get("source") or {}),
        "pretrain": parameters.get("pretrain") or {},
    }
    return plain(settings)
