"""The ingestion node's data-quality outputs: headline, counts, table of copies."""

import logging

from PIL import Image

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.data.quality import QualitySpec
from resnet_finetune.data.split import SplitSpec
from resnet_finetune.pipelines.ingestion.nodes import ingest_images
from tests.data.natural import altered_copy, natural_image, save


def test_ingestion_headline_counts_leakage_and_conflicts(tmp_path, caplog):
    root = tmp_path / "images"
    for offset, label in ((0, "a"), (100, "b")):
        for n in range(12):
            save(natural_image(offset + n, 64), root / "train" / label / f"{n}.png")
            save(natural_image(offset + 50 + n, 64), root / "test" / label / f"{n}.png")
    original = Image.open(root / "train" / "a" / "0.png").convert("RGB")
    save(altered_copy(original, 1), root / "test" / "a" / "leaked.jpg")
    (root / "train" / "b" / "conflict.png").write_bytes(
        (root / "train" / "a" / "1.png").read_bytes()
    )
    with caplog.at_level(logging.WARNING):
        manifest, report, _, summary, _, copies = ingest_images(
            str(root), SplitSpec(), ImageChecks(), "none", str(tmp_path / "work"), 0, QualitySpec()
        )
    assert summary["test_images_with_near_copy_in_train"] == 1
    quality = summary["data_quality"]
    assert quality["label_conflicts"] == 1 and quality["label_conflict_files_left_out"] == 2
    assert summary["left_out_by_reason"] == {"label conflict": 2}
    leak = copies[copies["kind"] == "leakage"].iloc[0]
    assert leak["path"].endswith("leaked.jpg") and leak["other_path"].endswith("train/a/0.png")
    assert "1 test image(s) have a near-copy in the training split" in caplog.text
    # Switched off: no perceptual hash, no leakage found (the exact conflict still is).
    _, _, _, off, _, none = ingest_images(
        str(root),
        SplitSpec(),
        ImageChecks(),
        "none",
        str(tmp_path / "work"),
        0,
        QualitySpec(near_duplicates=False),
    )
    assert off["test_images_with_near_copy_in_train"] == 0 and none.empty
    assert off["data_quality"]["label_conflicts"] == 1
