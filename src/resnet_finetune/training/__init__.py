"""Training engine and fine-tuning recipe; no Kedro."""

from resnet_finetune.training.checkpoints import TrainingCheckpoint, TrainingDiverged
from resnet_finetune.training.compute import Compute
from resnet_finetune.training.engine import TrainingOptions, make_optimizer, train
from resnet_finetune.training.finetune import finetune, set_trainable_stages

__all__ = [
    "Compute",
    "TrainingCheckpoint",
    "TrainingDiverged",
    "TrainingOptions",
    "finetune",
    "make_optimizer",
    "set_trainable_stages",
    "train",
]
