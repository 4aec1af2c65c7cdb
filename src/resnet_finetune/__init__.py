"""resnet-finetune"""

__version__ = "0.1"
