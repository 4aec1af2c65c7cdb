"""Data quality after training: likely mislabelled images among all labelled images."""

from resnet_finetune.pipelines.data_quality import pipeline

__all__ = ["pipeline"]
