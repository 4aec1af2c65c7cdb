"""Kedro pipelines: thin nodes over the models, data, training and evaluation libraries."""
