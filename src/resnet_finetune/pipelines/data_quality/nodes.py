"""Likely mislabelled images, ranked with the fine-tuned model's backbone embeddings."""

from __future__ import annotations

import keras
import pandas as pd

from resnet_finetune.evaluation.label_issues import LabelIssueSpec, model_label_suspects


def find_label_suspects(
    model: keras.Model, options: LabelIssueSpec, seed: int, saved_manifests
) -> tuple[pd.DataFrame, dict]:
    """One row per labelled image of the model's data (every split; the manifest of the
    model's own version among ``saved_manifests``), most suspect first:
    path, split, given and suggested label, label-quality score, flagged by confident
    learning; and a summary (number flagged, estimated label error rate).
    ``label_suspects.enabled: false`` gives an empty table."""
    return model_label_suspects(model, options, saved_manifests, seed)
