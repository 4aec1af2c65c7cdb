"""Split images into train, val and test: seeded, stratified, copies kept together."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from resnet_finetune.checks import check_count, check_range


@dataclass(frozen=True)
class SplitSpec:
    """How to split images that come without a declared train/val/test split: the
    parameter block ``<task>.split``. Which images each split gets follows the run's
    ``seed``, given to the split functions beside it.

    val_fraction, test_fraction: shares of each class held out for validation and test
    (0: none); train_per_class, val_per_class: instead, that many images per class
    (few-shot; the rest is test), or null.
    """

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    train_per_class: int | None = None
    val_per_class: int | None = None

    __pydantic_config__ = {"extra": "forbid"}  # unknown keys are typos

    def __post_init__(self):
        check_range("val_fraction", self.val_fraction, 0.0, 1.0, closed_high=False)
        check_range("test_fraction", self.test_fraction, 0.0, 1.0, closed_high=False)
        check_count("train_per_class", self.train_per_class, minimum=1, optional=True)
        check_count("val_per_class", self.val_per_class, minimum=1, optional=True)


def split_undeclared(images: pd.DataFrame, spec: SplitSpec, seed: int) -> pd.Series:
    """Stratified split, by ``seed``, that keeps copies (same ``duplicate_group``)
    together."""
    groups = images.drop_duplicates("duplicate_group")[["duplicate_group", "label"]]
    groups = groups.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    if spec.train_per_class is not None:
        split = pd.Series("test", index=groups.index)
        val_per_class = (
            spec.val_per_class if spec.val_per_class is not None else spec.train_per_class
        )
        for label, members in groups.groupby("label").groups.items():
            needed = spec.train_per_class + val_per_class + 1
            if len(members) < needed:
                raise ValueError(
                    f"class {label!r} has {len(members)} distinct images; "
                    f"train_per_class={spec.train_per_class} and val_per_class={val_per_class} "
                    f"need at least {needed} (one left for test)"
                )
            order = rng.permutation(np.asarray(members))
            split[order[: spec.train_per_class]] = "train"
            split[order[spec.train_per_class : spec.train_per_class + val_per_class]] = "val"
    else:
        split = pd.Series("train", index=groups.index)
        held_out = spec.val_fraction + spec.test_fraction
        # At least one image of each class in each held-out split (stratification needs it).
        classes = groups["label"].nunique()
        if held_out > 0:
            try:
                split = _split_by_fractions(groups, spec, classes, seed)
            except ValueError as error:
                sizes = groups["label"].value_counts()
                needed = 1 + (spec.val_fraction > 0) + (spec.test_fraction > 0)
                raise ValueError(
                    f"class {sizes.idxmin()!r} has {sizes.min()} distinct images, too few for "
                    f"split.val_fraction={spec.val_fraction} and split.test_fraction="
                    f"{spec.test_fraction}: a stratified split needs at least {needed} per class "
                    f"(one per split), often more; add images to it, leave it out, or set "
                    f"split.test_fraction=0 ({error})"
                ) from None
    by_group = dict(zip(groups["duplicate_group"], split))
    return images["duplicate_group"].map(by_group)


def _split_by_fractions(
    groups: pd.DataFrame, spec: SplitSpec, classes: int, seed: int
) -> pd.Series:
    """Stratified val and test splits of ``groups``: a fraction counted as scikit-learn
    counts it (rounded up, so that a seed splits as it always did), but at least one
    image of each class in each held-out split."""
    split = pd.Series("train", index=groups.index)
    both = spec.val_fraction > 0 and spec.test_fraction > 0
    held_out = spec.val_fraction + spec.test_fraction
    _, rest = train_test_split(
        groups.index,
        test_size=max(classes * (2 if both else 1), math.ceil(held_out * len(groups))),
        stratify=groups["label"],
        random_state=seed,
    )
    split[rest] = "val" if spec.val_fraction > 0 else "test"
    if both:
        share = spec.test_fraction / held_out
        _, test = train_test_split(
            rest,
            test_size=max(classes, math.ceil(share * len(rest))),
            stratify=groups.loc[rest, "label"],
            random_state=seed,
        )
        split[test] = "test"
    return split


def complete_declared(
    images: pd.DataFrame, spec: SplitSpec, source, seed: int
) -> tuple[pd.Series, pd.Series]:
    """Declared splits, completed so that a model is selected and tested on different
    images: without a declared ``test/``, the declared ``val/`` becomes the test split
    and the validation split that picks the best epoch is carved from ``train/``
    (stratified, seeded, duplicates together, ``val_fraction`` of it); likewise when
    only ``train/`` (and ``test/``) are declared. Returns the splits and where each
    came from."""
    declared = set(images["split"])
    if "train" not in declared:
        raise ValueError(
            f"{str(source)!r} declares {sorted(declared)} but no train split: add a train/ "
            "folder (or rows with split 'train')"
        )
    split = images["split"].copy()
    origin = split.map({"train": "declared train", "val": "declared val", "test": "declared test"})
    if "test" not in declared and "val" in declared:
        split[split == "val"] = "test"
        origin[split == "test"] = "declared val, used as test"
    if "val" not in set(split):
        train = split == "train"
        fractions = {"val_fraction": spec.val_fraction, "test_fraction": 0.0}
        if "test" not in set(split):
            fractions["test_fraction"] = spec.test_fraction
        carve = SplitSpec(**fractions)
        if carve.val_fraction <= 0:
            raise ValueError(
                f"{str(source)!r} declares no val split and split.val_fraction is 0: "
                "the best epoch needs a validation split; set split.val_fraction > 0"
            )
        split[train] = split_undeclared(images[train], carve, seed)
        origin[train & (split != "train")] = "carved from declared train"
    return split, origin
