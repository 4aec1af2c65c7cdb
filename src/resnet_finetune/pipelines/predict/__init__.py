from resnet_finetune.pipelines.predict import pipeline  # noqa: F401
