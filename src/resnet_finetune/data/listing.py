"""List the images of a folder of class sub-folders or of a CSV list.

Every file under the root (every row of a CSV list) ends either as one row of the
listing or as one row of the report with the reason it was left out: nothing
disappears silently.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from resnet_finetune.data.tables import read_text_table
from resnet_finetune.errors import ParameterError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
# Folder names that declare a split; "validation" is read as "val".
SPLIT_FOLDERS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
REPORT_COLUMNS = ["path", "reason", "detail"]


def _extension_rejection(path: str | Path) -> tuple[str, str] | None:
    suffix = (
        os.path.splitext(os.path.basename(path))[1].rstrip(".")
        and os.path.splitext(os.path.basename(path))[1]
    )
    if suffix.lower() in IMAGE_EXTENSIONS:
        return None
    return "not an image type", f"extension {suffix or '(none)'}"


def _join(folder: str, name: str) -> str:
    """``str(Path(folder) / name)`` without making a Path (40,000 files: a second saved)."""
    return name if folder == "." else os.path.join(folder, name)


def _path_order(path: str) -> list[str]:
    """The order of sorted ``Path`` objects (part by part), for strings."""
    return path.split(os.sep)


def _is_folder(entry: os.DirEntry) -> bool:
    """A folder, or a link to one; a link that loops on itself is not (it is reported)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _loops(link: str) -> bool:
    try:
        os.stat(link)
    except OSError as error:
        return error.errno == errno.ELOOP
    return False


# A run reads a user's folder in the recipe, the parameter check and the ingestion node:
# one walk serves them all while the folder is unchanged. The walks of this process are
# kept by real folder, the most recent few.
_WALKS: dict[Path, _Walk] = {}
_KEPT_WALKS = 8
# A folder changed this recently can change again without its mtime moving (timestamps
# have a resolution: 2 s on FAT): its walk is not kept.
_SETTLED_NS = 2 * 10**9


@dataclass(frozen=True)
class _Walk:
    """What a walk found (paths relative to its root) and the folders it depends on."""

    found: list[str]
    skipped: list[tuple[str, str, str]]
    watched: dict[str, tuple[int, ...] | None]  # absolute folder: its state when walked

    def unchanged(self) -> bool:
        return all(_folder_state(folder) == state for folder, state in self.watched.items())

    def settled(self, started_ns: int) -> bool:
        return all(s is None or s[0] < started_ns - _SETTLED_NS for s in self.watched.values())


def _folder_state(folder: str) -> tuple[int, ...] | None:
    """What moves when an entry of ``folder`` is added, removed or renamed (modification
    and change times), or when the path names another folder (inode, device); ``None``
    where it cannot be read."""
    try:
        status = os.stat(folder)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev


def _visible_files(root: Path) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Every file under ``root`` in sorted order, symbolic links followed while they stay
    inside ``root``, and what was skipped: hidden files, links that leave ``root``
    (refused, as a CSV list refuses such paths), broken links, link loops and empty
    folders. A folder link into a folder already being walked (``a/to_b -> ../b`` and
    ``b/to_a -> ../a``) is a loop: not followed, and one warning names every such link.

    The folder is walked once per process while it stays unchanged: a later call checks
    the state (``_folder_state``) of each folder the walk read or a link pointed into,
    and walks again if any differs."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist or is not a folder")
    prefix = "" if str(root) == "." else os.path.join(str(root), "")
    key = root.resolve()
    walk = _WALKS.get(key)
    if walk is None or not walk.unchanged():
        _WALKS.pop(key, None)
        started = time.time_ns()
        walk = _walk(root, prefix)
        if walk.settled(started):
            _WALKS[key] = walk
            while len(_WALKS) > _KEPT_WALKS:
                del _WALKS[next(iter(_WALKS))]
    found = [prefix + path for path in walk.found]
    return found, [(prefix + path, reason, detail) for path, reason, detail in walk.skipped]


def _walk(root: Path, prefix: str) -> _Walk:
    """``_visible_files``' walk, its paths relative to ``root`` (``prefix`` stripped).
    Plain files cost no system call beyond reading their folder."""
    real_root, found, skipped, loops, watched = root.resolve(), [], [], [], {}

    def walk(folder: str, hidden: bool, walking: frozenset[Path]) -> None:
        real = Path(folder).resolve()
        if real in walking:  # each real folder once on a path: links cannot loop forever
            loops.append(folder)
            skipped.append((folder, "link loop", f"a link back to {str(real)!r}: not followed"))
            return
        if not real.is_relative_to(real_root):
            skipped.append((folder, "outside the data root", f"a link to {str(real)!r}: refused"))
            return
        watched[os.path.abspath(folder)] = _folder_state(folder)  # before reading it
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            return
        subfolders = sorted((e for e in entries if _is_folder(e)), key=lambda e: e.name)
        files = [e for e in entries if not _is_folder(e)]
        if not entries and folder != str(root):
            skipped.append((folder, "empty folder", "no file inside"))
        for entry in files:
            file = _join(folder, entry.name)
            if entry.is_symlink():  # what it finds there can change without this folder
                target_folder = os.path.dirname(os.path.realpath(file))  # loops allowed
                watched[target_folder] = _folder_state(target_folder)
            if hidden or entry.name.startswith(".") or entry.name == "__MACOSX":
                skipped.append((file, "hidden", "hidden file or folder: ignored"))
            elif not entry.is_symlink():
                found.append(file)  # a plain file in a folder already inside the root
            elif not os.path.exists(file):
                reason = "link loop" if _loops(file) else "broken link"
                skipped.append((file, reason, f"links to {os.readlink(file)!r}"))
            elif not Path(file).resolve().is_relative_to(real_root):
                target = str(Path(file).resolve())
                skipped.append((file, "outside the data root", f"a link to {target!r}: refused"))
            else:
                found.append(file)
        for entry in subfolders:
            name = entry.name
            hides = hidden or name.startswith(".") or name == "__MACOSX"
            walk(_join(folder, name), hides, walking | {real})

    walk(str(root), False, frozenset())
    if loops:
        log.warning(
            "%d folder link(s) under %r loop back to a folder they are in, not followed: %s",
            len(loops),
            str(root),
            ", ".join(loops),
        )
    return _Walk(
        [path[len(prefix) :] for path in sorted(found, key=_path_order)],
        [(path[len(prefix) :], reason, detail) for path, reason, detail in skipped],
        watched,
    )


def discover_files(root: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """List every file under ``root`` with its class and declared split.

    Returns ``(files, skipped)``: ``files`` has columns path, label, split (None when
    the folder declares none); ``skipped`` lists hidden files, files outside any class
    folder and files whose extension is not an image type, each with the reason.
    """
    root = Path(root)
    prefix = "" if str(root) == "." else os.path.join(str(root), "")
    found, skipped = _visible_files(root)
    rows = []
    for path in found:
        parts = path[len(prefix) :].split(os.sep)
        split = SPLIT_FOLDERS.get(parts[0].lower()) if len(parts) > 2 else None
        class_parts = parts[1:] if split else parts
        if len(class_parts) < 2:
            skipped.append((path, "no class", "not inside a class folder"))
        elif rejection := _extension_rejection(path):
            skipped.append((path, *rejection))
        else:
            rows.append((path, class_parts[0], split))
    files = pd.DataFrame(rows, columns=["path", "label", "split"])
    return files, pd.DataFrame(skipped, columns=REPORT_COLUMNS)


def discover_unlabelled(root: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every image file anywhere under ``root``, without classes (for prediction).

    Returns ``(files, skipped)`` like ``discover_files``; labels are empty.
    """
    found, skipped = _visible_files(Path(root))
    rows = []
    for path in found:
        if rejection := _extension_rejection(path):
            skipped.append((str(path), *rejection))
        else:
            rows.append((str(path), "", None))
    files = pd.DataFrame(rows, columns=["path", "label", "split"])
    return files, pd.DataFrame(skipped, columns=REPORT_COLUMNS)


def read_csv_list(csv_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows ``path,label[,split]`` of a CSV list; relative paths are read from the CSV's
    folder, which is also the data root: a path that leaves it is refused (reported)."""
    csv_path = Path(csv_path)
    root = csv_path.parent.resolve()
    table = read_text_table(csv_path, {"path", "label"}, "path,label[,split]")
    rows, skipped, seen = [], [], set()
    for number, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        path = (root / row["path"].strip()).resolve()
        split_name = row.get("split", "").strip()
        if split_name and split_name.lower() not in SPLIT_FOLDERS:
            raise ValueError(
                f"{str(csv_path)!r} line {number}: split {split_name!r} is not allowed; "
                f"allowed: {sorted(SPLIT_FOLDERS)} or empty"
            )
        if not path.is_relative_to(root):
            rejection = "outside the data root", f"line {number} leaves {str(root)!r}: refused"
        elif not path.is_file():
            rejection = "missing", f"line {number} names no existing file"
        elif path in seen:
            rejection = "listed twice", f"line {number} repeats an earlier row: kept once"
        elif not row["label"].strip():
            rejection = "no class", f"line {number} has no label"
        else:
            rejection = _extension_rejection(path)
        if rejection:
            skipped.append((str(path), *rejection))
            continue
        seen.add(path)
        rows.append((str(path), row["label"].strip(), SPLIT_FOLDERS.get(split_name.lower())))
    files = pd.DataFrame(rows, columns=["path", "label", "split"])
    return files, pd.DataFrame(skipped, columns=REPORT_COLUMNS)


def _is_csv_list(source: Path) -> bool:
    return source.is_file() and source.suffix.lower() == ".csv"


def image_source(data_dir: str | Path, key: str = "data_dir") -> Path:
    """The folder or CSV list ``data_dir`` names (``~`` expanded), or a ParameterError
    naming ``key``, the parameter that gave it."""
    source = Path(data_dir).expanduser()
    if not (source.is_dir() or _is_csv_list(source)):
        raise ParameterError(
            f"{key}={str(data_dir)!r} is neither a folder nor a .csv list: give a folder "
            "with one sub-folder of images per class, or a CSV with a header path,label"
        )
    return source


def list_images(source: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``discover_files`` for a folder, ``read_csv_list`` for a ``.csv`` file."""
    source = Path(source)
    if _is_csv_list(source):
        return read_csv_list(source)
    return discover_files(source)
