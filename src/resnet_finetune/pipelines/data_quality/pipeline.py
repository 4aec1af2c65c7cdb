"""``label_suspects``: likely mislabelled images among every labelled image of a
fine-tuned model (all splits), for the report and for the next run's corrections.

Part of ``transfer`` (hence ``finetune``) and of ``evaluate``; on its own
(``kedro run --pipeline label_suspects``) it ranks the latest model's images.
"""

from kedro.pipeline import Pipeline, node

from resnet_finetune.pipelines.data_quality.nodes import find_label_suspects


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                find_label_suspects,
                [
                    "finetuned_model",
                    "params:label_suspects",
                    "params:seed",
                    "target.saved_manifests",
                ],
                ["label_suspects", "label_suspects_summary"],
                name="find_label_suspects",
            )
        ]
    )
