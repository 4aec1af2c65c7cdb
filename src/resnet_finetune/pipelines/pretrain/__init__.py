from resnet_finetune.pipelines.pretrain import pipeline  # noqa: F401
