"""Pretraining: source ingestion → ResNet construction → training from scratch."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from resnet_finetune.pipelines.ingestion.pipeline import create_pipeline as ingestion
from resnet_finetune.pipelines.pretrain.nodes import build_model, plot_history, train_model


def titled(function, title: str):
    """``function`` with its ``title`` argument bound, keeping its name for Kedro."""
    return update_wrapper(partial(function, title=title), function)


def create_pipeline() -> Pipeline:
    return ingestion("source") + Pipeline(
        [
            node(
                build_model,
                ["source.class_map", "params:backbone", "params:source.input", "params:seed"],
                "untrained_model",
                name="build_model",
            ),
            node(
                train_model,
                [
                    "untrained_model",
                    "source.train_batches",
                    "source.val_images",
                    "params:pretrain",
                    "params:seed",
                ],
                ["pretrained_model", "pretrain_history"],
                name="pretrain_model",
            ),
            node(
                titled(plot_history, "Pretraining on the source task"),
                "pretrain_history",
                "pretrain_learning_curves",
                name="plot_pretrain_history",
            ),
        ]
    )
