"""Likely mislabelled images, found after training by confident learning (cleanlab).

Every labelled image (all splits) gets out-of-sample predicted probabilities: a logistic
regression on the fine-tuned backbone's embeddings, cross-validated, so that no model
ever scores an image it was trained on. Confident learning (Northcutt et al., 2021)
flags the images whose given label disagrees with those probabilities beyond what each
class's estimated noise explains; every image is ranked by its label-quality score
(cleanlab's self-confidence: the probability of the given label; lower is more suspect).

To act on the list: copy rows into a corrections CSV ``path,action,label``
(``relabel`` with the right label, or ``exclude``) and point ``<task>.quality.corrections``
at it; the next ingestion applies it and records it (docs/DATA_QUALITY.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from resnet_finetune.checks import check_count, check_flag

logger = logging.getLogger(__name__)

SUSPECT_COLUMNS = [
    "rank",
    "path",
    "split",
    "given_label",
    "suggested_label",
    "score",
    "suggested_probability",
    "flagged",
]


@dataclass(frozen=True)
class LabelIssueSpec:
    """Likely mislabelled images after training: the parameter block ``label_suspects``.

    enabled: false: no scoring (the report says so); folds: cross-validation folds
    (fewer when a class has fewer images); max_images: score at most this many labelled
    images (a class-stratified, seeded sample, for very large data), or null: all.
    """

    enabled: bool = True
    folds: int = 5
    max_images: int | None = None

    __pydantic_config__ = {"extra": "forbid"}  # unknown keys are typos

    def __post_init__(self):
        check_flag("enabled", self.enabled)
        check_count("folds", self.folds, minimum=2)
        check_count("max_images", self.max_images, minimum=2, optional=True)


def out_of_sample_probabilities(
    features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Predicted class probabilities of each row by a logistic regression that never saw
    it (stratified ``folds``-fold cross-validation; fewer folds when a class is smaller)."""
    labels = np.asarray(labels)
    smallest = np.bincount(labels).min(initial=len(labels)) if len(labels) else 0
    folds = min(folds, int(smallest))
    if folds < 2:
        raise ValueError(
            "every class needs at least 2 labelled images for out-of-sample probabilities"
        )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=0.5))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    # One BLAS thread: small matrices, where more threads only fight over the cores (on
    # 2 busy cores: 0.4 s on one thread, 6-17 s on the default, 398 images x 2048).
    with threadpool_limits(1):
        return cross_val_predict(model, features, labels, cv=splitter, method="predict_proba")


def rank_label_issues(
    probabilities: np.ndarray,
    labels: np.ndarray,
    rows: pd.DataFrame,
    class_names: list[str],
    min_rows: int = 20,
) -> tuple[pd.DataFrame, dict]:
    """The suspects table (``SUSPECT_COLUMNS``; the flagged images, and at least
    ``min_rows`` rows, most suspect first) and its summary. ``rows``: path and split of
    each labelled image, in the order of ``labels``."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels)
    flagged = find_label_issues(labels, probabilities, n_jobs=1)
    scores = get_label_quality_scores(labels, probabilities)
    suggested = probabilities.argmax(axis=1)
    names = np.asarray(class_names)
    order = np.lexsort((scores, ~flagged))  # flagged first, then by score
    shown = order[: max(int(flagged.sum()), min(min_rows, len(order)))]
    table = pd.DataFrame(
        {
            "rank": np.arange(1, len(shown) + 1),
            "path": rows["path"].to_numpy()[shown],
            "split": rows["split"].to_numpy()[shown],
            "given_label": names[labels[shown]],
            "suggested_label": names[suggested[shown]],
            "score": scores[shown].round(4),
            "suggested_probability": probabilities[shown, suggested[shown]].round(4),
            "flagged": flagged[shown],
        },
        columns=SUSPECT_COLUMNS,
    )
    summary = {
        "images_scored": int(len(labels)),
        "flagged_by_confident_learning": int(flagged.sum()),
        "estimated_label_error_rate": float(flagged.mean()) if len(labels) else 0.0,
        "out_of_sample_accuracy": float((suggested == labels).mean()) if len(labels) else 0.0,
        "flagged_per_split": {
            str(split): int(n)
            for split, n in pd.Series(rows["split"].to_numpy()[flagged]).value_counts().items()
        },
    }
    return table, summary


def labelled_rows(manifest: pd.DataFrame, max_images: int | None, seed: int = 0) -> pd.DataFrame:
    """Every labelled image of ``manifest`` (all splits), or a class-stratified, seeded
    sample of ``max_images`` of them (at least 2 per class), in manifest order."""
    if max_images is None or max_images >= len(manifest):
        return manifest.reset_index(drop=True)
    fraction = max_images / len(manifest)
    rng = np.random.default_rng(seed)
    keep = []
    for _, members in manifest.groupby("class_index", sort=True).groups.items():
        count = min(len(members), max(2, round(fraction * len(members))))
        keep.extend(rng.choice(np.asarray(members), count, replace=False))
    return manifest.loc[sorted(keep)].reset_index(drop=True)


def no_suspects() -> pd.DataFrame:
    """The suspects table when none were computed (``label_suspects.enabled: false``)."""
    return pd.DataFrame(columns=SUSPECT_COLUMNS)


def model_label_suspects(
    model, spec: LabelIssueSpec, read_version, seed: int = 0
) -> tuple[pd.DataFrame, dict]:
    """Every labelled image of the manifest the model was trained on (all splits;
    ``spec.max_images`` caps it; ``read_version``: as ``training_manifest`` reads it),
    ranked from most to least likely mislabelled: out-of-sample probabilities of a
    logistic regression on the fine-tuned backbone's embeddings (what the head reads),
    then confident learning. One row per scored image; the summary counts the flagged
    ones and estimates the label error rate. When that manifest is gone or is another,
    only the held-out images the card carries are ranked, and the summary says why."""
    from resnet_finetune.evaluation.inference import (
        TrainingManifestError,
        features_and_probabilities,
        training_manifest,
    )
    from resnet_finetune.models.card import card_of

    card = card_of(model)
    labelled = sum(card.data["images_per_split"].values())
    if not spec.enabled:
        return no_suspects(), {"enabled": False, "images_labelled": labelled}
    try:
        manifest, ranked = training_manifest(model, read_version), "every labelled image"
    except TrainingManifestError as unavailable:
        logger.warning("%s; ranking the held-out images only", unavailable)
        manifest = card.held_out
        ranked = f"the {card.held_out_split} split only: {unavailable}"
    rows = labelled_rows(manifest, spec.max_images, seed)
    sizes = rows["label"].value_counts()
    if sizes.min() < 2:
        raise ValueError(
            f"class {sizes.idxmin()!r} has {sizes.min()} labelled image(s): likely mislabelled "
            "images need at least 2 per class (raise label_suspects.max_images, or set "
            "label_suspects.enabled: false)"
        )
    # The model's probabilities come with its features: kept for the held-out scoring.
    features = features_and_probabilities(model, rows)[0]
    labels = rows["class_index"].to_numpy(np.int64)
    probabilities = out_of_sample_probabilities(features, labels, spec.folds, seed)
    table, summary = rank_label_issues(
        probabilities, labels, rows, card.class_names, min_rows=len(rows)
    )
    summary = {
        "enabled": True,
        "images_labelled": labelled,
        "ranked": ranked,
        **summary,
        "folds": int(min(spec.folds, sizes.min())),
        "features": f"backbone embeddings ({features.shape[1]} per image)",
    }
    return table, summary


def corrections_draft(suspects: pd.DataFrame, flagged_only: bool = True) -> pd.DataFrame:
    """A corrections table (``path,action,label``) to review and edit: each (flagged)
    suspect relabelled to its suggested label. Keep the rows you agree with, change
    ``action`` to ``exclude`` for images that belong to no class, delete the others; the
    next ingestion applies the file named by ``<task>.quality.corrections``."""
    rows = suspects[suspects["flagged"].astype(bool)] if flagged_only else suspects
    return pd.DataFrame(
        {"path": rows["path"], "action": "relabel", "label": rows["suggested_label"].astype(str)}
    ).reset_index(drop=True)
