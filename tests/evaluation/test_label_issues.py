"""Likely mislabelled images from out-of-sample probabilities (digits 5-9, 8x8 pixels as
features: the library's logic, fast)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from resnet_finetune.evaluation.label_issues import (
    SUSPECT_COLUMNS,
    LabelIssueSpec,
    out_of_sample_probabilities,
    rank_label_issues,
)

NAMES = ["5", "6", "7", "8", "9"]


def _digits(flip_fraction: float, seed: int = 0):
    digits = load_digits()
    keep = digits.target >= 5
    features, labels = digits.data[keep] / 16, digits.target[keep] - 5
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), int(round(flip_fraction * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[flipped] = (noisy[flipped] + rng.integers(1, 5, len(flipped))) % 5  # another class
    rows = pd.DataFrame(
        {
            "path": [f"digits/{n}.png" for n in range(len(labels))],
            "split": rng.choice(["train", "val", "test"], len(labels)),
        }
    )
    return features, noisy, flipped, rows


def test_flipped_labels_rank_first():
    features, noisy, flipped, rows = _digits(0.05)
    probabilities = out_of_sample_probabilities(features, noisy, folds=5, seed=0)
    table, summary = rank_label_issues(probabilities, noisy, rows, NAMES)
    top = table.head(2 * len(flipped))
    found = top["path"].isin(rows["path"].iloc[flipped]).mean() * len(top) / len(flipped)
    print(f"flipped {len(flipped)}, found in top {len(top)}: {found:.1%}, summary {summary}")
    assert len(flipped) == 45 and found >= 0.8
    assert list(table.columns) == SUSPECT_COLUMNS and table["rank"].tolist()[:3] == [1, 2, 3]
    # The suggestion is the true digit for most flagged flips.
    truth = load_digits().target[load_digits().target >= 5] - 5
    flagged_flips = table[table["flagged"] & table["path"].isin(rows["path"].iloc[flipped])]
    index = flagged_flips["path"].str.extract(r"(\d+)")[0].astype(int)
    assert (
        flagged_flips["suggested_label"].to_numpy() == np.array(NAMES)[truth[index]]
    ).mean() > 0.9
    assert 0.03 <= summary["estimated_label_error_rate"] <= 0.08


def test_clean_labels_claim_almost_no_errors():
    features, labels, _, rows = _digits(0.0)
    probabilities = out_of_sample_probabilities(features, labels, folds=5, seed=0)
    table, summary = rank_label_issues(probabilities, labels, rows, NAMES, min_rows=10)
    print(f"no flips: {summary}")
    assert summary["estimated_label_error_rate"] <= 0.01
    assert len(table) == max(10, summary["flagged_by_confident_learning"])


def test_no_image_is_scored_by_a_model_that_saw_it():
    """A model fitted on the flipped labels too would vouch for them; out-of-sample
    probabilities give them little weight."""
    from sklearn.neighbors import KNeighborsClassifier

    features, noisy, flipped, _ = _digits(0.05)
    outside = out_of_sample_probabilities(features, noisy, folds=5, seed=1)
    inside = KNeighborsClassifier(1).fit(features, noisy).predict_proba(features)  # memorises
    np.testing.assert_allclose(outside.sum(axis=1), 1, rtol=1e-6)
    given_outside = outside[flipped, noisy[flipped]].mean()
    given_inside = inside[flipped, noisy[flipped]].mean()
    assert given_outside < 0.2 and given_inside == 1.0


def test_too_few_images_and_bad_folds_are_refused():
    with pytest.raises(ValueError, match="at least 2 labelled images"):
        out_of_sample_probabilities(np.zeros((3, 2)), np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="folds=1 must be an integer >= 2"):
        LabelIssueSpec(folds=1)


def test_max_images_samples_every_class_in_manifest_order():
    from resnet_finetune.evaluation.label_issues import labelled_rows

    manifest = pd.DataFrame(
        {"path": [f"{n}.png" for n in range(100)], "class_index": [0] * 90 + [1] * 10}
    )
    rows = labelled_rows(manifest, 20, seed=0)
    assert len(rows) == 20 and rows["class_index"].value_counts().to_dict() == {0: 18, 1: 2}
    assert rows["path"].str.extract(r"(\d+)")[0].astype(int).is_monotonic_increasing
    assert labelled_rows(manifest, None).equals(manifest)
    with pytest.raises(ValueError, match="max_images=1 must be an integer >= 2 or null"):
        LabelIssueSpec(max_images=1)


def test_corrections_draft_relabels_flagged_suspects_to_their_suggestion():
    from resnet_finetune.evaluation.label_issues import corrections_draft

    suspects = pd.DataFrame(
        {
            "path": ["a/1.png", "b/2.png", "a/3.png"],
            "suggested_label": ["b", "a", "a"],
            "flagged": [True, True, False],
        }
    )
    draft = corrections_draft(suspects)
    assert draft.to_dict("list") == {
        "path": ["a/1.png", "b/2.png"],
        "action": ["relabel", "relabel"],
        "label": ["b", "a"],
    }
