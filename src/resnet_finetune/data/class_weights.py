"""Loss weights per class, against an imbalanced training split."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

CLASS_WEIGHTS = ("none", "balanced")


def check_class_weights(choice: str) -> None:
    if choice not in CLASS_WEIGHTS:
        raise ValueError(f"class_weights={choice!r} is not allowed; allowed: {list(CLASS_WEIGHTS)}")


def balanced_class_weights(manifest: pd.DataFrame) -> dict[str, float]:
    """scikit-learn's "balanced" weight of each class over the training split."""
    labels = manifest.loc[manifest["split"] == "train", "label"]
    classes = np.array(sorted(manifest["label"].unique()))
    missing = sorted(set(classes) - set(labels))
    if missing:
        raise ValueError(f"class(es) {missing} have no training image")
    weights = compute_class_weight("balanced", classes=classes, y=labels)
    return {str(label): float(weight) for label, weight in zip(classes, weights)}
