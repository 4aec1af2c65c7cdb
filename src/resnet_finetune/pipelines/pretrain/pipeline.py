"""Pretraining: source ingestion → ResNet construction → training from scratch."""

from kedro.pipeline import Pipeline, node

from resnet_finetune.evaluation.plots import titled_learning_curves as titled
from resnet_finetune.pipelines.ingestion.pipeline import create_pipeline as ingestion
from resnet_finetune.pipelines.pretrain.nodes import build_model, train_model


def create_pipeline() -> Pipeline:
    return ingestion("source") + Pipeline(
        [
            node(
                build_model,
                [
                    "source.class_map",
                    "params:backbone",
                    "params:source.input",
                    "params:source.augmentation",
                    "params:seed",
                ],
                "untrained_model",
                name="build_model",
            ),
            node(
                train_model,
                [
                    "untrained_model",
                    "source.training_set",
                    "params:source",
                    "params:pretrain",
                    "params:compute",
                    "params:checkpoints",
                    "params:seed",
                    "params:backbone",
                ],
                ["pretrained_model", "pretrain_history"],
                name="pretrain_model",
            ),
            node(
                titled("Pretraining on the source task"),
                "pretrain_history",
                "pretrain_learning_curves",
                name="plot_pretrain_history",
            ),
        ]
    )
