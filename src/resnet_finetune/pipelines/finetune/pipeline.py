"""Fine-tuning on the target task, and the from-scratch baseline it is compared with."""

from kedro.pipeline import Pipeline, node

from resnet_finetune.evaluation.plots import titled_learning_curves as titled
from resnet_finetune.models.card import CARD_PARAMETERS
from resnet_finetune.pipelines.finetune.nodes import (
    finetune_model,
    prepare_backbone,
    record_card_parameters,
    train_scratch_baseline,
)

# What fine-tuning and the scratch baseline both train on and with: the same data, model
# family, training options and compute; each model's card records `card_parameters`.
_TARGET_TRAINING = {
    "data": "target.training_set",
    "training": "params:finetune.training",
    "phases": "params:finetune.phases",
    "head_dropout": "params:finetune.head_dropout",
    "target": "params:target",
    "backbone": "params:backbone",
    "compute": "params:compute",
    "checkpoints": "params:checkpoints",
    "seed": "params:seed",
    "card_parameters": "card_parameters",
}


def create_card_pipeline() -> Pipeline:
    """The parameter blocks each trained model's card records, gathered once for the
    fine-tuned model and the scratch baseline."""
    return Pipeline(
        [
            node(
                record_card_parameters,
                {key: f"params:{key}" for key in CARD_PARAMETERS},
                "card_parameters",
                name="record_card_parameters",
            )
        ]
    )


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
                {
                    "backbone_model": "backbone_model",
                    "calibrate": "params:finetune.calibrate",
                    **_TARGET_TRAINING,
                },
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
                {"baseline": "params:baseline", **_TARGET_TRAINING},
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
