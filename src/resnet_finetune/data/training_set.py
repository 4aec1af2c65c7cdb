"""What a training step reads from ingestion, as one object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd  # at run time: Kedro reads a node's type hints


@dataclass(frozen=True)
class TrainingSet:
    """``train``: the augmented, shuffled training batches; ``val``: the validation
    batches; ``manifest``: every image with its label and split; ``class_weights``: loss
    weight per label (empty: none); ``class_map``: label to output index; ``summary``:
    the ingestion summary (what was kept, left out and why)."""

    train: Any
    val: Any
    manifest: pd.DataFrame
    class_weights: dict[str, float]
    class_map: dict[str, int]
    summary: dict

    @property
    def class_weight(self) -> dict[int, float] | None:
        """Keras ``class_weight`` (by output index); ``None`` when no weights."""
        return {self.class_map[label]: w for label, w in self.class_weights.items()} or None
