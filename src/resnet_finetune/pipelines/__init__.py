"""Kedro pipelines: thin nodes over the models, data, training and evaluation libraries."""

# The tag of the from-scratch baseline's nodes: what `baseline: none` leaves out of a run
# (hooks.NoBaselineHook) and what tells the recipe whether to share its time budget.
BASELINE_TAG = "baseline"
