"""A folder is walked once per process while it is unchanged, and walked again as soon
as an entry is added or removed: the listing a run hands on is never stale."""

import os
import time

from resnet_finetune.data.listing import list_images
from tests.conftest import write_image


def age(root, seconds=3600):
    """Set every folder's modification time back, as a folder prepared before a run."""
    past = time.time() - seconds
    for folder, _, _ in os.walk(root):
        os.utime(folder, (past, past))


def test_an_unchanged_folder_is_walked_once_and_a_new_file_is_seen(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    for label in ("ants", "bees"):
        for index in range(3):
            write_image(root / label / f"{index}.png", seed=index)
    age(root)
    walks, scandir = [], os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": walks.append(str(path)) or scandir(path))

    def walks_of_root():
        return sum(os.path.realpath(path) == str(root.resolve()) for path in walks)

    first, _ = list_images(root)
    again, _ = list_images(root)
    monkeypatch.chdir(tmp_path)
    relative, _ = list_images("photos")  # another spelling of the same folder
    assert walks_of_root() == 1 and len(first) == 6
    assert again.equals(first)
    assert relative["path"].tolist() == [
        os.path.join("photos", p)
        for p in (
            "ants/0.png",
            "ants/1.png",
            "ants/2.png",
            "bees/0.png",
            "bees/1.png",
            "bees/2.png",
        )
    ]

    write_image(root / "bees" / "new.png", seed=9)
    (root / "ants" / "0.png").unlink()
    after, _ = list_images(root)
    assert walks_of_root() == 2
    assert sorted(after["path"]) == sorted(
        str(root / p)
        for p in (
            "ants/1.png",
            "ants/2.png",
            "bees/0.png",
            "bees/1.png",
            "bees/2.png",
            "bees/new.png",
        )
    )


def test_a_folder_changed_just_now_is_walked_every_time(tmp_path, monkeypatch):
    """Its timestamp may not move for a change made within its resolution: not kept."""
    root = tmp_path / "photos"
    for label in ("ants", "bees"):
        write_image(root / label / "0.png")
    walks, scandir = [], os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": walks.append(str(path)) or scandir(path))
    list_images(root)
    list_images(root)
    assert walks.count(str(root)) == 2
    write_image(root / "ants" / "1.png")
    files, _ = list_images(root)
    assert walks.count(str(root)) == 3 and len(files) == 3
