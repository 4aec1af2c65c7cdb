"""Evaluation of the fine-tuned model (and of the scratch baseline) on held-out images."""

from kedro.pipeline import Pipeline, node

from resnet_finetune.pipelines.evaluate.nodes import (
    compare_with_scratch,
    predict_held_out,
    score_predictions,
)

_INPUTS = ["target.manifest", "target.class_map", "params:target.input"]


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                predict_held_out,
                ["finetuned_model", *_INPUTS],
                "test_predictions",
                name="predict_held_out",
            ),
            node(
                score_predictions,
                ["test_predictions", "target.class_map", "params:evaluate"],
                ["metrics", "confusion_matrix"],
                name="score_predictions",
            ),
        ]
    )


def create_baseline_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                predict_held_out,
                ["scratch_model", *_INPUTS],
                "scratch_test_predictions",
                name="predict_held_out_scratch",
            ),
            node(
                score_predictions,
                ["scratch_test_predictions", "target.class_map", "params:evaluate"],
                ["scratch_metrics", "scratch_confusion_matrix"],
                name="score_scratch",
            ),
            node(
                compare_with_scratch,
                ["metrics", "scratch_metrics"],
                "scratch_comparison",
                name="compare_with_scratch",
            ),
        ]
    )
