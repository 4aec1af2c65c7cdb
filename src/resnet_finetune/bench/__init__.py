"""Benchmarks against the project's peers, side by side in one run.

``python -m resnet_finetune.bench --help`` lists them.
"""
