"""``kedro run --pipeline export``: the latest fine-tuned model (or the one
``--load-versions`` names) as .keras, SavedModel, ONNX and TFLite float32/float16/int8,
each checked in its own runtime on the held-out images; the saved folder also holds
labels.txt and model.json (export.description), which say what its outputs mean."""

from kedro.pipeline import Pipeline, node

from resnet_finetune.pipelines.export.nodes import check_model_exports, export_finetuned_model


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                export_finetuned_model,
                ["finetuned_model", "params:export", "params:seed", "target.saved_manifests"],
                "unchecked_exports",
                name="export_finetuned_model",
            ),
            node(
                check_model_exports,
                ["finetuned_model", "unchecked_exports", "params:export"],
                ["model_exports", "export_report"],
                name="check_model_exports",
            ),
        ]
    )
