"""Ingestion → augmentation, written once and namespaced as ``source`` and ``target``."""

from kedro.pipeline import Pipeline, node, pipeline

from resnet_finetune.data.training_set import TrainingSet
from resnet_finetune.pipelines.ingestion.nodes import (
    augment_training_images,
    ingest_images,
    locate_images,
    make_input_datasets,
    preview_augmentation,
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
                [
                    "image_root",
                    "params:split",
                    "params:validation",
                    "params:class_weights",
                    "params:intermediate_dir",
                    "params:seed",
                    "params:quality",
                ],
                [
                    "manifest",
                    "ingestion_report",
                    "class_map",
                    "ingestion_summary",
                    "class_weights",
                    "near_duplicates",
                ],
                name="ingest_images",
            ),
            node(
                make_input_datasets,
                [
                    "manifest",
                    "params:input",
                    "params:intermediate_dir",
                    "params:compute",
                    "params:seed",
                ],
                ["train_images", "val_images"],
                name="make_input_datasets",
            ),
            node(
                augment_training_images,
                ["train_images", "val_images", "class_map", "params:augmentation", "params:seed"],
                ["train_batches", "val_batches"],
                name="augment_training_images",
            ),
            node(
                TrainingSet,
                {
                    "train": "train_batches",
                    "val": "val_batches",
                    "manifest": "manifest",
                    "class_weights": "class_weights",
                    "class_map": "class_map",
                    "summary": "ingestion_summary",
                },
                "training_set",
                name="assemble_training_set",
            ),
            node(
                preview_augmentation,
                [
                    "manifest",
                    "class_map",
                    "params:input",
                    "params:augmentation",
                    "params:seed",
                ],
                "augmentation_preview",
                name="preview_augmentation",
            ),
        ]
    )
    # One seed, one work folder and one way of computing for both namespaces: one number
    # makes the run reproducible.
    return pipeline(
        template,
        namespace=namespace,
        parameters={"params:seed", "params:intermediate_dir", "params:compute"},
    )
