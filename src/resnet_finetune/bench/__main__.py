"""``python -m resnet_finetune.bench input|train ...``: see ``--help``."""

from resnet_finetune.bench.cli import main

if __name__ == "__main__":
    main()
