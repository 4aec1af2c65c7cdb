"""Fine-tuning on the target task, and the from-scratch baseline it is compared with."""

from kedro.pipeline import Pipeline, node

from resnet_finetune.evaluation.plots import titled_learning_curves as titled
from resnet_finetune.pipelines.finetune.nodes import (
    finetune_model,
    prepare_backbone,
    train_scratch_baseline,
)

# What fine-tuning and the scratch baseline both train on: same data, same model family.
# The manifest, summary and parameters go into each model's card.
_TARGET_TRAINING = ["target.training_set", "parameters"]


def create_pipeline() -> Pipeline:
    """Target-side fine-tuning; ``pretrained_model`` comes from the catalog or a run."""
    return Pipeline(
        [
            node(
                prepare_backbone,
                ["params:backbone", "pretrained_model", "params:seed"],
                "backbone_model",
                name="prepare_backbone",
            ),
            node(
                finetune_model,
                ["backbone_model", *_TARGET_TRAINING],
                ["finetuned_model", "finetune_history"],
                name="finetune_model",
            ),
            node(
                titled("Fine-tuning on the target task"),
                "finetune_history",
                "finetune_learning_curves",
                name="plot_finetune_history",
            ),
        ]
    )


def create_baseline_pipeline() -> Pipeline:
    """The same ResNet trained from scratch on the target split, same budget."""
    return Pipeline(
        [
            node(
                train_scratch_baseline,
                _TARGET_TRAINING,
                ["scratch_model", "scratch_history"],
                name="train_scratch_baseline",
            ),
            node(
                titled("Baseline: the same ResNet trained from scratch"),
                "scratch_history",
                "scratch_learning_curves",
                name="plot_scratch_history",
            ),
        ]
    )
