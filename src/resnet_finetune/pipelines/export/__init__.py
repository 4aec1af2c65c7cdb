"""``kedro run --pipeline export``: the fine-tuned model for other runtimes, checked."""

from resnet_finetune.pipelines.export import pipeline

__all__ = ["pipeline"]
