"""``kedro run --pipeline degradation``: the paper's degradation result, reproduced small."""

from kedro.pipeline import Pipeline, node

from resnet_finetune.pipelines.degradation.nodes import run_degradation_experiment
from resnet_finetune.pipelines.ingestion.pipeline import create_pipeline as ingestion


def create_pipeline() -> Pipeline:
    return ingestion("degradation") + Pipeline(
        [
            node(
                run_degradation_experiment,
                [
                    "degradation.train_batches",
                    "degradation.val_batches",
                    "degradation.train_images",
                    "degradation.manifest",
                    "degradation.class_map",
                    "params:degradation",
                    "params:degradation.training",
                    "params:degradation.input",
                    "params:compute",
                    "params:checkpoints",
                    "params:seed",
                ],
                ["degradation_history", "degradation_table", "degradation_curves"],
                name="run_degradation_experiment",
            )
        ]
    )
