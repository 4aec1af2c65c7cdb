"""Kedro pipelines: thin nodes over the models, data, training and evaluation libraries."""

# The tag of the from-scratch baseline's nodes: what `baseline: none` leaves out of a run
# (hooks.NoBaselineHook) and what tells the recipe whether to share its time budget.
BASELINE_TAG = "baseline"
# What every node that trains the recipe's network reads: a run without one (predict,
# evaluate, export) neither times this machine for the recipe nor prints it.
NETWORK_PARAMETERS = "params:backbone"
# The tag of pretraining's nodes: what a start that needs no pretraining, or a synthetic
# start whose weights are saved already, leaves out of a run (hooks.PretrainingHook).
PRETRAINING_TAG = "pretraining"
