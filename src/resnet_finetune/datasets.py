"""Kedro datasets the catalog needs and kedro-datasets lacks."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version


class FolderDataset(AbstractVersionedDataset[Path, Path]):
    """A versioned folder of files (model exports): saving copies a folder in, loading
    gives the path of the saved copy."""

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict | None = None):
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self.metadata = metadata

    def load(self) -> Path:
        return Path(self._get_load_path())

    def save(self, data: Path) -> None:
        shutil.copytree(data, Path(self._get_save_path()))

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_dir()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}
