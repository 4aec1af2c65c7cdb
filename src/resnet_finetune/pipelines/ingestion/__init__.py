from resnet_finetune.pipelines.ingestion import pipeline  # noqa: F401
