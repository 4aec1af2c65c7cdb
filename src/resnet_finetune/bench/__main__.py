"""``python -m resnet_finetune.bench input ...``: see ``--help``."""

from resnet_finetune.bench.input_pipeline import main

if __name__ == "__main__":
    main()
