"""A file or folder written through ``atomic_path`` is whole or absent, never half."""

import pytest

from resnet_finetune.files import atomic_path, write_text_atomically
from resnet_finetune.trees import get_path, leaves, set_path


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    target = tmp_path / "deep" / "record.json"
    write_text_atomically(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as partial:
        partial.write_text("half")
        raise RuntimeError("killed while writing")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["record.json"]


def test_a_folder_is_renamed_into_place_with_its_suffix_kept(tmp_path):
    with atomic_path(tmp_path / "model.keras") as partial:
        assert partial.suffix == ".keras" and partial.name.startswith(".")
        (partial / "inner").mkdir(parents=True)
    assert (tmp_path / "model.keras" / "inner").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_dotted_paths_get_set_and_list_the_leaves():
    tree = {"target": {"input": {"image_size": [8, 8]}}, "seed": 1}
    assert get_path(tree, "target.input.image_size") == [8, 8]
    assert get_path(tree, "target.split.seed") is None and get_path(tree, "seed.x") is None
    set_path(tree, "target.split.val_fraction", 0.2)
    assert leaves(tree) == [
        ("target.input.image_size", [8, 8]),
        ("target.split.val_fraction", 0.2),
        ("seed", 1),
    ]
    assert leaves("auto", "baseline.") == [("baseline", "auto")]
