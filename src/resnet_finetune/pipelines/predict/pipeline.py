"""``kedro run --pipeline predict --params predict.data_dir=PATH``: label new images with
the latest fine-tuned model (or the one ``--load-versions`` names)."""

from kedro.pipeline import Pipeline, node

from resnet_finetune.pipelines.predict.nodes import find_images_to_predict, predict_images


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(
                find_images_to_predict,
                ["params:predict.data_dir", "params:target.validation", "params:intermediate_dir"],
                ["images_to_predict", "prediction_report"],
                name="find_images_to_predict",
            ),
            node(
                predict_images,
                ["finetuned_model", "images_to_predict", "params:predict"],
                ["predictions", "prediction_summary"],
                name="predict_images",
            ),
        ]
    )
