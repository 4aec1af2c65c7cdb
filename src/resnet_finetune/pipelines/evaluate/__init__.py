from resnet_finetune.pipelines.evaluate import pipeline  # noqa: F401
