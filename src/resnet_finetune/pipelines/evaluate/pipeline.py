"""Evaluation of the fine-tuned model (and of the scratch baseline) on held-out images."""

from kedro.pipeline import Pipeline, node

from resnet_finetune.pipelines.evaluate.nodes import (
    compare_with_scratch,
    predict_held_out,
    score_predictions,
)


def _scoring(model: str, prefix: str = "") -> list:
    """Predict the held-out split with ``model`` and score it; outputs named ``prefix*``."""
    suffix = f"_{prefix.rstrip('_')}" if prefix else ""
    predictions = f"{prefix}test_predictions"
    return [
        node(
            predict_held_out,
            [model, "target.manifest", "target.class_map", "params:target.input"],
            predictions,
            name=f"predict_held_out{suffix}",
        ),
        node(
            score_predictions,
            [predictions, "target.class_map", "params:evaluate"],
            [f"{prefix}metrics", f"{prefix}confusion_matrix"],
            name=f"score_predictions{suffix}",
        ),
    ]


def create_pipeline() -> Pipeline:
    return Pipeline(_scoring("finetuned_model"))


def create_baseline_pipeline() -> Pipeline:
    return Pipeline(
        [
            *_scoring("scratch_model", prefix="scratch_"),
            node(
                compare_with_scratch,
                ["metrics", "scratch_metrics"],
                "scratch_comparison",
                name="compare_with_scratch",
            ),
        ]
    )
