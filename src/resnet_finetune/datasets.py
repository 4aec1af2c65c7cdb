"""Kedro datasets the catalog needs and kedro-datasets lacks.

The model and folder datasets write a version whole or not at all: into a hidden sibling
first, renamed into place once complete, so that a run killed while saving leaves no
half-written version for the catalog to load as the latest. Every CSV the project writes
goes through ``SafeCSVDataset`` (no cell of user data runs as a spreadsheet formula).
"""

from __future__ import annotations

import fnmatch
import shutil
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import keras
import pandas as pd
from kedro.io.core import (
    AbstractDataset,
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
)
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.tensorflow import TensorFlowModelDataset

from resnet_finetune.data.tables import neutralise_formulas, restore_formulas
from resnet_finetune.files import atomic_path
from resnet_finetune.models.resnet import load_model, save_model

# Models loaded once for every node that reads them (``AtomicModelDataset(shared=True)``),
# by file: path, modification time and size. A few files are kept (a run reads one).
_SHARED_MODELS: OrderedDict[tuple[str, int, int], keras.Model] = OrderedDict()
SHARED_MODELS_KEPT = 2


def load_shared_model(path: str | Path) -> keras.Model:
    """The model of ``path`` as ``load_model`` gives it, loaded once per process while the
    file is unchanged (same modification time and size): every node that reads it gets
    the same object, instead of each reading and checking the file again (seconds for a
    ResNet-50). A file written since is loaded anew."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
    if key in _SHARED_MODELS:
        _SHARED_MODELS.move_to_end(key)
        return _SHARED_MODELS[key]
    model = _SHARED_MODELS[key] = load_model(path)
    while len(_SHARED_MODELS) > SHARED_MODELS_KEPT:
        _SHARED_MODELS.popitem(last=False)
    return model


class AtomicModelDataset(TensorFlowModelDataset):
    """A local ``.keras`` model, versioned, written atomically (kedro-datasets'
    ``TensorFlowModelDataset`` copies the file into place, which a kill can interrupt),
    with its model card (class names, held-out split, parameters) inside the file, and
    loaded in Keras's safe mode with that card. ``optional``: loading before any version
    was saved gives ``None`` (a model a node reads only for some parameter values).
    ``shared``: every load of an unchanged file gives the same model object
    (``load_shared_model``), for a model that the nodes reading it only read; a node that
    trains on what it loads (a pretrained start) must not share it."""

    def __init__(self, *, optional: bool = False, shared: bool = False, **kwargs):
        super().__init__(**kwargs)
        self._optional = optional
        self._shared = shared

    def save(self, data: keras.Model) -> None:
        if self._protocol not in ("file", ""):
            raise DatasetError(f"{self._filepath}: only local model files are supported")
        version = self.resolve_save_version() if self._version is not None else None
        with atomic_path(self._get_save_path()) as partial:
            save_model(data, partial, version, **self._save_args)

    def load(self) -> keras.Model | None:
        if self._optional and not self.exists():
            return None
        return (load_shared_model if self._shared else load_model)(self._get_load_path())


class FolderDataset(AbstractVersionedDataset[Path, Path]):
    """A versioned folder of files (model exports): saving copies a folder in, loading
    gives the path of the saved copy."""

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict | None = None):
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self.metadata = metadata

    def load(self) -> Path:
        return Path(self._get_load_path())

    def save(self, data: Path) -> None:
        with atomic_path(self._get_save_path()) as partial:
            shutil.copytree(data, partial)

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_dir()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}


class SavedVersionsDataset(AbstractDataset[None, Callable[[str], tuple[str, Any]]]):
    """Every saved version of a versioned dataset (``dataset``: its catalog configuration),
    each read on demand: loading gives ``read_version(version) -> (path, data)``, data
    ``None`` when that version was never saved. For a node that needs the version another
    input names: the manifest a model was trained on has the model's own save version,
    which ``--load-versions finetuned_model:V`` does not carry over to the manifest."""

    def __init__(self, *, dataset: dict, metadata: dict | None = None):
        self._dataset = {**dataset, "versioned": True}
        self.metadata = metadata

    def load(self) -> Callable[[str], tuple[str, Any]]:
        def read_version(version: str) -> tuple[str, Any]:
            saved = AbstractDataset.from_config(str(self), dict(self._dataset), version)
            path = str(saved._get_load_path())
            return path, saved.load() if saved.exists() else None

        return read_version

    def save(self, data: None) -> None:
        raise DatasetError("saved versions are read only: save the versioned dataset itself")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset}


class SafeCSVDataset(CSVDataset):
    """kedro-datasets' ``CSVDataset`` for tables that hold user data (file and class
    names, paths, corrections): saved with every string cell that a spreadsheet would run
    as a formula neutralised (OWASP: a leading apostrophe, ``data.tables``), loaded with
    the exact strings back, so that a pipeline reading its own CSV sees what it wrote.

    ``text_columns``: column names or patterns (``label_*``) read as strings whatever
    they hold — class names such as ``NA``, ``None``, ``null`` or ``7`` stay strings;
    give ``load_args: {keep_default_na: false}`` too so that no text becomes NaN.

    Lines end with CRLF (RFC 4180): Python's CSV writer then quotes a cell holding a
    carriage return, which a file with LF line ends would cut into two rows."""

    DEFAULT_SAVE_ARGS = {**CSVDataset.DEFAULT_SAVE_ARGS, "lineterminator": "\r\n"}
    DEFAULT_FS_ARGS = {"open_args_save": {"mode": "w", "newline": ""}}  # no second CR

    def __init__(self, *, text_columns: list[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self._text_columns = list(text_columns or [])

    def load(self) -> pd.DataFrame:
        if self._text_columns:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
            with self._fs.open(load_path, mode="r") as file:
                header = pd.read_csv(file, nrows=0, **self._header_args())
            names = restore_formulas(header).columns  # patterns name the columns as saved
            text = {
                raw: str
                for raw, name in zip(header.columns, names)
                if any(fnmatch.fnmatchcase(name, pattern) for pattern in self._text_columns)
            }
            self._load_args = {**self._load_args, "dtype": {**self._dtypes(), **text}}
        return restore_formulas(super().load())

    def save(self, data: pd.DataFrame) -> None:
        super().save(neutralise_formulas(data))

    def _header_args(self) -> dict:
        return {k: v for k, v in self._load_args.items() if k in ("sep", "encoding")}

    def _dtypes(self) -> dict:
        dtype = self._load_args.get("dtype") or {}
        return dtype if isinstance(dtype, dict) else {}
