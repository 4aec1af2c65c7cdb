"""Ingestion → augmentation, written once and namespaced as ``source`` and ``target``."""

from kedro.pipeline import Pipeline, node, pipeline

from resnet_finetune.pipelines.ingestion.nodes import (
    augment_training_images,
    ingest_images,
    locate_images,
    make_input_datasets,
)


def create_pipeline(namespace: str) -> Pipeline:
    template = Pipeline(
        [
            node(
                locate_images,
                ["params:data_dir", "params:embedded"],
                "image_root",
                name="locate_images",
            ),
            node(
                ingest_images,
                ["image_root", "params:split"],
                ["manifest", "ingestion_report", "class_map", "ingestion_summary"],
                name="ingest_images",
            ),
            node(
                make_input_datasets,
                ["manifest", "params:input", "params:seed"],
                ["train_images", "val_images"],
                name="make_input_datasets",
            ),
            node(
                augment_training_images,
                ["train_images", "params:augmentation", "params:seed"],
                "train_batches",
                name="augment_training_images",
            ),
        ]
    )
    # The seed is shared by both namespaces: one number makes the whole run reproducible.
    return pipeline(template, namespace=namespace, parameters={"params:seed"})
