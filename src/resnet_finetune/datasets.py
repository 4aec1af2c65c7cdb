"""Kedro datasets the catalog needs and kedro-datasets lacks.

Both write a version whole or not at all: into a hidden sibling first, renamed into
place once complete, so that a run killed while saving leaves no half-written version
for the catalog to load as the latest.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import keras
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version
from kedro_datasets.tensorflow import TensorFlowModelDataset

from resnet_finetune.models.card import card_of, write_card
from resnet_finetune.models.resnet import load_model


def _partial(path: Path) -> Path:
    """Where ``path`` is written before it is complete: hidden, same folder, same suffix
    (Keras picks the format from it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".partial-{os.getpid()}-{path.name}")


class AtomicModelDataset(TensorFlowModelDataset):
    """A local ``.keras`` model, versioned, written atomically (kedro-datasets'
    ``TensorFlowModelDataset`` copies the file into place, which a kill can interrupt),
    with its model card (class names, held-out split, parameters) inside the file, and
    loaded in Keras's safe mode with that card. ``optional``: loading before any version
    was saved gives ``None`` (a model a node reads only for some parameter values)."""

    def __init__(self, *, optional: bool = False, **kwargs):
        super().__init__(**kwargs)
        self._optional = optional

    def save(self, data: keras.Model) -> None:
        if self._protocol not in ("file", ""):
            raise DatasetError(f"{self._filepath}: only local model files are supported")
        target = Path(self._get_save_path())
        partial = _partial(target)
        try:
            keras.saving.save_model(data, partial, **self._save_args)
            if (card := card_of(data, required=False)) is not None:
                write_card(partial, card)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    def load(self) -> keras.Model | None:
        if self._optional and not self.exists():
            return None
        return load_model(self._get_load_path())


class FolderDataset(AbstractVersionedDataset[Path, Path]):
    """A versioned folder of files (model exports): saving copies a folder in, loading
    gives the path of the saved copy."""

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict | None = None):
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self.metadata = metadata

    def load(self) -> Path:
        return Path(self._get_load_path())

    def save(self, data: Path) -> None:
        target = Path(self._get_save_path())
        partial = _partial(target)
        try:
            shutil.copytree(data, partial)
            partial.rename(target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_dir()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}
