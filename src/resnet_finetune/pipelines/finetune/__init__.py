from resnet_finetune.pipelines.finetune import pipeline  # noqa: F401
