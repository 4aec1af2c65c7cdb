"""Evaluation of the fine-tuned model (and of the scratch baseline) on held-out images.

Everything comes from the model itself: its card names its classes, its held-out
images and the parameters that made it, so ``--load-versions finetuned_model:V`` alone
evaluates V on V's own test split, whatever the current parameters say.
"""

from kedro.pipeline import Pipeline, node

from resnet_finetune.pipelines.evaluate.nodes import (
    build_report,
    compare_with_scratch,
    plot_reliability,
    predict_held_out,
    score_predictions,
    score_tables,
)


def _scoring(model: str, prefix: str = "") -> list:
    """Predict the held-out split with ``model`` and score it; outputs named ``prefix*``."""
    suffix = f"_{prefix.rstrip('_')}" if prefix else ""
    predictions = f"{prefix}test_predictions"
    return [
        node(predict_held_out, model, predictions, name=f"predict_held_out{suffix}"),
        node(
            score_predictions,
            [model, predictions, "params:evaluate"],
            [f"{prefix}metrics", f"{prefix}confusion_matrix"],
            name=f"score_predictions{suffix}",
        ),
    ]


def create_pipeline() -> Pipeline:
    """Score the fine-tuned model, then the reports a person reads. The report's
    data-quality section reads ``label_suspects`` (pipeline ``data_quality``, which the
    registered ``evaluate`` runs first, on the same model)."""
    return Pipeline(
        [
            *_scoring("finetuned_model"),
            node(
                score_tables,
                ["finetuned_model", "metrics", "test_predictions"],
                ["per_class_metrics", "confusion_table"],
                name="score_tables",
            ),
            node(
                plot_reliability,
                ["finetuned_model", "test_predictions"],
                "reliability_diagram",
                name="plot_reliability",
            ),
            node(
                build_report,
                [
                    "finetuned_model",
                    "test_predictions",
                    "metrics",
                    "params:evaluate",
                    "label_suspects",
                    "target.saved_manifests",
                ],
                ["misclassified_examples", "grad_cam_examples", "evaluation_report"],
                name="build_report",
            ),
        ]
    )


def create_baseline_pipeline() -> Pipeline:
    return Pipeline(
        [
            *_scoring("scratch_model", prefix="scratch_"),
            node(
                compare_with_scratch,
                ["metrics", "scratch_metrics", "scratch_model"],
                "scratch_comparison",
                name="compare_with_scratch",
            ),
        ]
    )
