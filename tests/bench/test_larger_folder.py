"""The larger folder made from a small one for timing runs (docs/PERFORMANCE.md)."""

from PIL import Image

from resnet_finetune.bench.larger_folder import MIN_BITS, make_folder
from resnet_finetune.data.quality import perceptual_hash
from tests.conftest import write_image


def test_the_folder_has_the_asked_images_per_split_and_class_none_alike(tmp_path):
    for split, count in (("train", 3), ("val", 2)):
        for c, label in enumerate(("ants", "bees")):
            for i in range(count):
                write_image(
                    tmp_path / "src" / split / label / f"{i}.jpg", size=(80, 60), seed=10 * c + i
                )
    written = make_folder(tmp_path / "src", tmp_path / "dst", images=20)
    # 85% training: 17, shared by 2 classes (8 each); 3 validation (1 each)
    assert written == {"train/ants": 8, "train/bees": 8, "val/ants": 1, "val/bees": 1}
    files = sorted((tmp_path / "dst" / "train" / "ants").glob("*.jpg"))
    assert len(files) == 8
    bits = [int(perceptual_hash(Image.open(f)), 16) for f in files]
    # checked before saving as JPEG, which moves a hash by a few bits only
    distances = [bin(a ^ b).count("1") for i, a in enumerate(bits) for b in bits[i + 1 :]]
    assert min(distances) > MIN_BITS
