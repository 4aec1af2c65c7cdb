"""Pretraining: source images (a folder, the embedded digits or generated fractals) →
ingestion → ResNet construction → training from scratch. Every node is tagged
``pretraining``: a run whose start needs none leaves them out (hooks.PretrainingHook)."""

from kedro.pipeline import Pipeline, node, pipeline

from resnet_finetune.evaluation.plots import titled_learning_curves as titled
from resnet_finetune.pipelines import PRETRAINING_TAG
from resnet_finetune.pipelines.ingestion.pipeline import create_pipeline as ingestion
from resnet_finetune.pipelines.pretrain.nodes import (
    build_model,
    locate_source_images,
    show_source_examples,
    train_model,
)


def create_pipeline() -> Pipeline:
    source = ingestion("source")
    # The source's images come from this pipeline's own node, which can also generate them.
    source -= source.only_nodes("source.locate_images")
    # Namespaced as the ingestion's nodes are: drawn inside `source` by kedro-viz.
    images = pipeline(
        [
            node(
                locate_source_images,
                [
                    "params:data_dir",
                    "params:embedded",
                    "params:backbone.weights",
                    "params:synthetic",
                    "params:input",
                ],
                "image_root",
                name="locate_images",
            ),
            node(show_source_examples, "image_root", "pretraining_examples", name="show_examples"),
        ],
        namespace="source",
        parameters={"params:backbone.weights", "params:synthetic"},
        outputs={"pretraining_examples"},
    )
    nodes = [
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
                "params:synthetic",
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
    return Pipeline([images, source, Pipeline(nodes)], tags=PRETRAINING_TAG)
