from resnet_finetune.pipelines.degradation import pipeline  # noqa: F401
