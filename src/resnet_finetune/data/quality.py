"""Trust the data: label conflicts, near-duplicates (and leakage across splits), and the
user's corrections of labels.

- A *label conflict* is one content (same SHA-256) filed under two or more labels.
- A *near-duplicate* is a resized, re-encoded or lightly cropped copy: two images whose
  perceptual hashes (pHash, 64 bits) differ in at most ``max_distance`` bits.
- *Leakage* is a held-out image (test or val) with a near-copy in the training split.

The perceptual hash is computed in the validation pass that already decodes each image
(``perceptual_hash``); pairing is linear in the number of images: multi-index hashing
cuts each hash into ``max_distance + 1`` bands, and two hashes within ``max_distance``
bits agree exactly on at least one band (pigeonhole), so only images sharing a band value
are compared. No all-pairs comparison.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from resnet_finetune.checks import check_choice, check_count, check_flag
from resnet_finetune.data.tables import read_text_table
from resnet_finetune.errors import ParameterError

log = logging.getLogger(__name__)

LABEL_CONFLICT_CHOICES = ("exclude", "keep")
# ``new_class``: a relabel that may create a class; ``relabel`` only to a class the data has.
CORRECTION_ACTIONS = ("relabel", "new_class", "exclude")
NEAR_DUPLICATE_COLUMNS = [
    "kind",
    "path",
    "label",
    "split",
    "other_path",
    "other_label",
    "other_split",
    "distance",
]
_BANDS, _BAND_BITS = 4, 16
_MAX_DISTANCE = 11  # 4 bands: two hashes within 11 bits agree within 2 bits on one band

# pHash as in imagehash (Zauner's): grey image at 32x32, the 8x8 lowest frequencies of its
# 2-D DCT-II, one bit per coefficient: above their median. Box resampling (an area
# average) instead of Lanczos: as robust for downscaled copies, 3x faster.
_HASH_SIZE, _DCT_SIZE = 8, 32
_n = np.arange(_DCT_SIZE)
_DCT = 2 * np.cos(np.pi * np.arange(_HASH_SIZE)[:, None] * (2 * _n[None, :] + 1) / (2 * _DCT_SIZE))
# The pHash of grey levels is blind to colour, and smooth images with a similar layout
# fall within a few bits of one another: a pair must also agree on its colour layout (the
# mean RGB of each quarter of the image, 12 bytes), within this mean absolute difference.
COLOUR_TOLERANCE = 16
# Below this many pixels a side, distinct images look alike to a perceptual hash (two
# hand-written 8x8 digits differ by a few pixels): only their exact copies are found.
MIN_HASH_SIDE = 16


@dataclass(frozen=True)
class QualitySpec:
    """What ingestion checks beyond readability: the parameter block ``<task>.quality``
    (docs/DATA_QUALITY.md).

    label_conflicts: ``exclude`` | ``keep`` the same image under two labels;
    near_duplicates: find resized or re-encoded copies (kept in one split; across
    declared splits: leakage); max_distance: pHash bits (of 64) within which two images
    are copies (0-11: more would pair unrelated images); corrections: a CSV
    ``path,action(relabel|exclude),label`` applied before splitting, or null.
    """

    label_conflicts: str = "exclude"
    near_duplicates: bool = True
    max_distance: int = 7
    corrections: str | None = None

    __pydantic_config__ = {"extra": "forbid"}  # unknown keys are typos

    def __post_init__(self):
        check_choice("label_conflicts", self.label_conflicts, LABEL_CONFLICT_CHOICES)
        check_flag("near_duplicates", self.near_duplicates)
        check_count("max_distance", self.max_distance, minimum=0)
        if self.max_distance > _MAX_DISTANCE:
            raise ParameterError(
                f"max_distance={self.max_distance!r} must be 0-{_MAX_DISTANCE} bits of 64 "
                "(more would pair unrelated images)"
            )


# --- perceptual hashes --------------------------------------------------------------


_THUMBNAIL_BYTES = _DCT_SIZE * _DCT_SIZE + 12  # grey 32x32, then 2x2 RGB
_HASH_CHUNK = 8192  # thumbnails hashed at once (8192 x 32 x 32 float64: 64 MiB)


def hash_thumbnail(image: Image.Image) -> bytes:
    """What the perceptual hash needs of one decoded image, cheaply (a few C calls, no
    Python-level arithmetic: it runs in the validation threads): the image in grey at
    32×32 (box filter), then the mean R, G, B of each quarter. ``perceptual_hashes``
    hashes many of them at once."""
    grey = image.convert("L")
    if grey.size != (_DCT_SIZE, _DCT_SIZE):
        grey = grey.resize((_DCT_SIZE, _DCT_SIZE), Image.Resampling.BOX)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return grey.tobytes() + rgb.resize((2, 2), Image.Resampling.BOX).tobytes()


def perceptual_hashes(thumbnails: list[bytes]) -> list[str]:
    """40 hex digits per ``hash_thumbnail`` (``""`` for an empty one): the 64-bit pHash
    (imagehash's bit order: a bit per lowest 8×8 DCT coefficient of the grey 32×32,
    above their median), then the colour layout (12 bytes). Vectorised over chunks."""
    hashes = [""] * len(thumbnails)
    present = [index for index, thumbnail in enumerate(thumbnails) if thumbnail]
    for start in range(0, len(present), _HASH_CHUNK):
        chunk = present[start : start + _HASH_CHUNK]
        data = np.frombuffer(b"".join(thumbnails[i] for i in chunk), dtype=np.uint8)
        data = data.reshape(len(chunk), _THUMBNAIL_BYTES)
        grey = data[:, : _DCT_SIZE * _DCT_SIZE].reshape(-1, _DCT_SIZE, _DCT_SIZE)
        low = (_DCT @ grey.astype(np.float64) @ _DCT.T).reshape(len(chunk), -1)
        median = np.sort(low, axis=1)[:, 31:33].mean(axis=1, keepdims=True)
        packed = np.concatenate(
            [np.packbits(low > median, axis=1), data[:, _DCT_SIZE * _DCT_SIZE :]], axis=1
        )
        text = packed.tobytes().hex()
        width = 2 * packed.shape[1]
        for offset, index in enumerate(chunk):
            hashes[index] = text[offset * width : (offset + 1) * width]
    return hashes


def perceptual_hash(image: Image.Image) -> str:
    """40 hex digits: the 64-bit pHash of ``image`` (imagehash's bit order), then its
    colour layout (mean R, G, B of each quarter, 12 bytes)."""
    return perceptual_hashes([hash_thumbnail(image)])[0]


def hash_values(hexes) -> np.ndarray:
    """The pHash part of perceptual hashes as unsigned 64-bit integers (0 for none)."""
    return np.array([int(h[:16] or "0", 16) for h in hexes], dtype=np.uint64)


def colour_layouts(hexes) -> np.ndarray:
    """The colour-layout part of perceptual hashes: an (n, 12) array of 0-255 values."""
    data = b"".join(bytes.fromhex(h[16:40] or "00" * 12) for h in hexes)
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, 12).astype(np.int16)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between two arrays of 64-bit hashes, element-wise."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


def _probes(radius: int) -> np.ndarray:
    """Every 16-bit mask with at most ``radius`` bits set."""
    masks = [0]
    singles = [1 << k for k in range(_BAND_BITS)]
    if radius >= 1:
        masks += singles
    if radius >= 2:
        masks += [a | b for n, a in enumerate(singles) for b in singles[n + 1 :]]
    return np.array(masks, dtype=np.uint64)


def near_pairs(
    hashes: np.ndarray, max_distance: int, colours: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)``, ``i < j``, of hashes within ``max_distance`` bits (and,
    given ``colours``, colour layouts within ``COLOUR_TOLERANCE``).

    Multi-index hashing (Norouzi et al., 2012): the 64 bits are cut into 4 bands of 16;
    two hashes within ``max_distance`` bits agree within ``max_distance // 4`` bits on at
    least one band (pigeonhole), so each hash is compared only with the hashes whose band
    value lies that close to its own (looked up in the sorted band values). The work is
    linear in the number of hashes while they outnumber 65,536 band values by little (a
    few million images); no all-pairs comparison."""
    if not 0 <= max_distance <= _MAX_DISTANCE:
        raise ParameterError(f"max_distance={max_distance!r} must be 0-{_MAX_DISTANCE} bits")
    hashes = np.asarray(hashes, dtype=np.uint64)
    count = len(hashes)
    probes = _probes(max_distance // _BANDS)
    found = []
    for band in range(_BANDS):
        keys = (hashes >> np.uint64(band * _BAND_BITS)) & np.uint64(0xFFFF)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        for probe in probes:
            wanted = keys ^ probe
            low = np.searchsorted(sorted_keys, wanted, side="left")
            high = np.searchsorted(sorted_keys, wanted, side="right")
            sizes = high - low
            if not sizes.any():
                continue
            left = np.repeat(np.arange(count), sizes)
            # Positions low[i] .. high[i]-1 for each i, flattened.
            starts = np.repeat(low - np.cumsum(sizes) + sizes, sizes)
            right = order[starts + np.arange(len(left))]
            keep = left < right
            left, right = left[keep], right[keep]
            # Filtered at once: the candidates of clustered hashes can be many.
            near = hamming(hashes[left], hashes[right]) <= max_distance
            found.append(left[near].astype(np.int64) * count + right[near])
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    i, j = codes // count, codes % count
    close = np.ones(len(i), dtype=bool)
    if colours is not None:
        close &= np.abs(colours[i] - colours[j]).mean(axis=1) <= COLOUR_TOLERANCE
    return i[close], j[close]


def duplicate_groups(images: pd.DataFrame, max_distance: int | None) -> pd.Series:
    """One group id per image: images of one group are copies of one another (same
    SHA-256, or, with ``max_distance``, pHashes linked by chains of near pairs). The id
    is the SHA-256 of the group's first image; without near-duplicates (or a hash: see
    ``MIN_HASH_SIDE``) it is the image's own SHA-256 (exact duplicates only)."""
    groups = images["sha256"].copy()
    hashed = images["phash"] != "" if "phash" in images else pd.Series(False, images.index)
    if max_distance is None or not hashed.any():
        return groups
    subset = images[hashed]
    distinct, inverse = np.unique(subset["phash"].to_numpy(dtype=str), return_inverse=True)
    i, j = near_pairs(hash_values(distinct), max_distance, colour_layouts(distinct))
    count = len(distinct)
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    by_image = component[inverse.ravel()]
    first = pd.Series(np.arange(len(subset))).groupby(by_image).transform("min").to_numpy()
    groups[hashed] = subset["sha256"].to_numpy()[first]
    return groups


# --- label conflicts and corrections -----------------------------------------------


def split_label_conflicts(images: pd.DataFrame, choice: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Images whose exact content is filed under two or more labels: left out with the
    reason ``label conflict`` (``choice="exclude"``), or kept. Returns ``(kept, report)``;
    the report names, for each file, the other labels and a file that has them."""
    labels = images.groupby("sha256")["label"].nunique()
    conflicted = images["sha256"].isin(labels.index[labels > 1])
    rows = []
    for _, group in images[conflicted].groupby("sha256", sort=False):
        for row in group.itertuples():
            others = group[group["label"] != row.label]
            detail = (
                f"labelled {row.label!r}; the same content (sha256 {row.sha256[:12]}) is "
                f"labelled {sorted(others['label'].unique())} in {others['path'].iloc[0]!r}"
            )
            rows.append(
                (row.path, "label conflict", detail + ("" if choice == "exclude" else ": kept"))
            )
    report = pd.DataFrame(rows, columns=["path", "reason", "detail"])
    if choice == "keep":
        return images, report.iloc[0:0]
    return images[~conflicted], report


def read_corrections(csv_path: str | Path) -> pd.DataFrame:
    """A corrections CSV ``path,action,label`` (action ``relabel``, ``new_class`` or
    ``exclude``), checked: a bad row is refused with the file and line."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ParameterError(f"quality.corrections={str(csv_path)!r}: no such file")
    table = read_text_table(csv_path, {"path", "action"}, "path,action,label")
    if "label" not in table:
        table["label"] = ""
    table["label"] = table["label"].str.strip()
    table["line"] = np.arange(len(table)) + 2  # line 1 is the header
    for row in table.itertuples():
        where = f"{str(csv_path)!r} line {row.line}"
        if row.action not in CORRECTION_ACTIONS:
            raise ValueError(
                f"{where}: action {row.action!r} is not allowed; "
                f"allowed: {list(CORRECTION_ACTIONS)}"
            )
        if row.action != "exclude" and not row.label:
            raise ValueError(f"{where}: {row.action} needs a label")
    return table


def _listed_row(named: str, root: Path, listed: dict, by_file: dict) -> int | None:
    """The position of the image a corrections row names, found as the manifest lists
    it: the listed path itself (``listed``: absolute listed path → position; links not
    followed, so ``red/x.png``, a link to ``green/img_000.png``, is its own row), relative
    to the data root or to the working directory; failing that, the one listed row that
    is the same file (``by_file``: resolved path → positions), e.g. a path written
    through a link to the data folder. ``None``: no image, or several rows are that file."""
    candidates = (root / named, Path(named))
    for candidate in candidates:
        if (position := listed.get(os.path.abspath(candidate))) is not None:
            return position
    matches = {int(i) for c in candidates for i in by_file.get(str(c.resolve()), [])}
    return matches.pop() if len(matches) == 1 else None


def apply_corrections(
    images: pd.DataFrame, csv_path: str | Path | None, root: str | Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The user's corrections applied: ``relabel`` rows change the label to one the data
    has, ``new_class`` rows to any label (the manifest's ``correction`` column says from
    what, and which line), ``exclude`` rows leave the image out (reason ``excluded by
    corrections`` in the report). Paths are absolute, relative to the data root ``root``,
    or written as the manifest (and ``label_suspects.csv``) write them: relative to the
    working directory, the project root in a Kedro run. Refused, naming the line(s): a path
    that names no image of the data, two rows for one image, a relabel to a label no class
    has, and a correction that leaves a class with one image."""
    images = images.assign(correction="")
    report = pd.DataFrame(columns=["path", "reason", "detail"])
    if csv_path is None or str(csv_path).strip() == "":
        return images, report
    table = read_corrections(csv_path)
    root = Path(root)
    root = root.parent if root.is_file() else root
    classes = sorted(images["label"].unique())
    label, correction = images.columns.get_loc("label"), images.columns.get_loc("correction")
    listed = {os.path.abspath(p): i for i, p in enumerate(images["path"])}
    real = images["path"].map(lambda p: str(Path(p).resolve()))
    by_file = real.groupby(real.to_numpy()).indices
    original = images["label"].copy()
    excluded, rows, line_of = [], [], {}
    for row in table.itertuples():
        where = f"{str(csv_path)!r} line {row.line}"
        index = _listed_row(row.path.strip(), root, listed, by_file)
        if index is None:
            raise ValueError(f"{where}: {row.path!r} is no readable image of {str(root)!r}")
        path = images["path"].iloc[index]
        if index in line_of:
            raise ValueError(
                f"{str(csv_path)!r} lines {line_of[index]} and {row.line} both correct "
                f"{path!r}: keep one row per image"
            )
        line_of[index] = row.line
        if row.action == "relabel" and row.label not in classes:
            raise ValueError(
                f"{where}: relabel to {row.label!r}, a label no class has; known classes: "
                f"{classes}. A typo? To create a class, write action new_class"
            )
        if row.action == "exclude":
            excluded.append(index)
            links = images["path"].iloc[by_file[real.iloc[index]]].drop(images.index[index])
            also = (
                f"; the same file listed as {list(links)} stays (exclude it too to drop it)"
                if len(links)
                else ""
            )
            rows.append((path, "excluded by corrections", f"{csv_path} line {row.line}{also}"))
        else:
            old = original.iloc[index]
            images.iloc[index, label] = row.label
            images.iloc[index, correction] = f"relabelled from {old!r} ({csv_path} line {row.line})"
    kept = images.drop(images.index[excluded])
    _refuse_one_image_classes(original, kept, table, line_of, csv_path)
    return kept, pd.DataFrame(rows, columns=["path", "reason", "detail"])


def _refuse_one_image_classes(
    original: pd.Series, kept: pd.DataFrame, table: pd.DataFrame, line_of: dict, csv_path
) -> None:
    """A class the corrections leave with a single image (a new class of one, or all but
    one excluded or moved away) cannot be both trained and tested: refused naming the
    class and the lines that did it, rather than left for the split to fail on."""
    new_label = dict(zip(table["line"], table["label"]))
    counts = kept["label"].value_counts()
    for name in counts.index[counts < 2]:
        lines = sorted(
            line
            for index, line in line_of.items()
            if original.iloc[index] == name or new_label[line] == name
        )
        if lines:
            raise ValueError(
                f"{str(csv_path)!r} line(s) {lines} leave class {name!r} with one image: a "
                "class needs at least two (one to train on, one to test); move more images "
                "to it, or exclude this one too"
            )


# --- what the ingestion reports -----------------------------------------------------


def _nearest(member: int, candidates: np.ndarray, hashes: np.ndarray) -> tuple[int, int]:
    distances = hamming(hashes[candidates], hashes[member])
    best = int(np.argmin(distances))
    return int(candidates[best]), int(distances[best])


def _seen_copies(index: np.ndarray, splits: np.ndarray, split: str) -> np.ndarray:
    """The copies (of one group) that a model scored on ``split`` was trained or selected
    on: train and val for a test image, train for a val image."""
    if split not in ("test", "val"):
        return index[:0]
    return index[np.isin(splits, ("train", "val") if split == "test" else ("train",))]


def near_duplicate_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per image that has a copy in the manifest (its ``duplicate_group``):

    - ``leakage``: a test image with a copy the model trained or was selected on (train
      or val), or a val image with a copy in train (``other_path``: the closest such
      copy). Only where the data declared its splits: computed splits keep copies
      together.
    - ``label conflict``: a copy under another label that was kept
      (``quality.label_conflicts: keep``).
    - ``exact duplicate`` / ``near duplicate``: other copies, against the group's first image.
    """
    if "duplicate_group" not in manifest or manifest.empty:
        return pd.DataFrame(columns=NEAR_DUPLICATE_COLUMNS)
    sizes = manifest.groupby("duplicate_group")["path"].transform("size")
    copies = manifest[sizes > 1].reset_index(drop=True)
    if copies.empty:
        return pd.DataFrame(columns=NEAR_DUPLICATE_COLUMNS)
    has_phash = "phash" in copies and (copies["phash"] != "").any()
    hashes = hash_values(copies["phash"]) if has_phash else None
    rows = []
    for _, group in copies.groupby("duplicate_group", sort=False):
        index = group.index.to_numpy()
        splits = group["split"].to_numpy()
        first = index[0]

        # A group that straddles a held-out split and what was seen is listed as its
        # leakage only.
        leaking = any(len(_seen_copies(index, splits, split)) for split in splits)
        for member in index:
            seen = _seen_copies(index, splits, copies.at[member, "split"])
            if leaking and not len(seen):
                continue
            row = copies.loc[member]
            different = group["label"] != row["label"]
            if len(seen):
                if hashes is None:
                    other, distance = int(seen[0]), 0
                else:
                    other, distance = _nearest(member, seen, hashes)
                kind = "leakage"
            elif len(same := group.index[(group["sha256"] == row["sha256"]) & different]):
                kind = "label conflict"
                other, distance = int(same[0]), 0
            elif member != first:
                other = int(first)
                same = row["sha256"] == copies.at[first, "sha256"]
                kind = "exact duplicate" if same else "near duplicate"
                distance = (
                    0
                    if same or hashes is None
                    else int(hamming(hashes[[member]], hashes[[first]])[0])
                )
            else:
                continue
            mate = copies.loc[other]
            rows.append(
                (
                    kind,
                    row["path"],
                    row["label"],
                    row["split"],
                    mate["path"],
                    mate["label"],
                    mate["split"],
                    distance,
                )
            )
    return pd.DataFrame(rows, columns=NEAR_DUPLICATE_COLUMNS)


def quality_summary(
    manifest: pd.DataFrame, report: pd.DataFrame, near_duplicates: pd.DataFrame, spec: QualitySpec
) -> dict:
    """Counts of each kind of problem, for the ingestion summary."""
    left_out_conflicts = report[report["reason"] == "label conflict"]
    kinds = near_duplicates["kind"].value_counts()
    leaked = near_duplicates[near_duplicates["kind"] == "leakage"]
    # Distinct contents in conflict: left out (the report names each one's sha256), kept.
    left_out_contents = left_out_conflicts["detail"].str.extract(r"sha256 ([0-9a-f]+)")[0]
    kept_contents = (
        manifest.groupby("sha256")["label"].nunique().gt(1).sum() if len(manifest) else 0
    )
    return {
        "near_duplicate_detection": bool(spec.near_duplicates),
        "max_distance_bits": int(spec.max_distance) if spec.near_duplicates else None,
        "label_conflicts": int(left_out_contents.nunique() + kept_contents),
        "label_conflict_files_left_out": int(len(left_out_conflicts)),
        "label_conflict_files_kept": int(kinds.get("label conflict", 0)),
        "exact_duplicates": int(kinds.get("exact duplicate", 0)),
        "near_duplicates": int(kinds.get("near duplicate", 0)),
        "test_images_with_near_copy_in_train": int((leaked["split"] == "test").sum()),
        "val_images_with_near_copy_in_train": int((leaked["split"] == "val").sum()),
        "excluded_by_corrections": int((report["reason"] == "excluded by corrections").sum()),
        "relabelled_by_corrections": int(
            (manifest["correction"] != "").sum() if "correction" in manifest else 0
        ),
    }


def warn_about_quality(summary: dict) -> None:
    """Say loudly what inflates a score or confuses training (the counts of
    ``quality_summary``)."""
    leaked = summary["test_images_with_near_copy_in_train"]
    if leaked:
        log.warning(
            "%d test image(s) have a near-copy in the training split: the test score is "
            "inflated (see the near_duplicates table, kind 'leakage')",
            leaked,
        )
    if summary["label_conflicts"]:
        action = "left out" if summary["label_conflict_files_left_out"] else "kept"
        log.warning(
            "%d image content(s) are filed under two or more labels (%s; see the "
            "ingestion report, reason 'label conflict')",
            summary["label_conflicts"],
            action,
        )
