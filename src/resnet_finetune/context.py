"""The project's Kedro context: its parameters are the recipe's, handed to nodes typed.

Kedro merges base, the environment and ``--params``; this context then has
``resnet_finetune.recipe.resolve_recipe`` choose every value left ``auto``, once, before
the catalog is built, validates the result (``config.check_parameters``: the run's only
validation) and logs the recipe. Only then does Kedro's own parameter validation run, on
the resolved values: a ``params:`` input whose node function's type hint names a
dataclass (``training: TrainingOptions`` for ``params:finetune.training``) becomes that
object, so nodes and hooks receive blocks, not dicts to rebuild, and never see ``auto``.
Nodes, hooks, notebooks (``context.params``) and kedro-mlflow all see these values.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.context import KedroContext

from resnet_finetune.pipelines import BASELINE_TAG, NETWORK_PARAMETERS
from resnet_finetune.trees import get_path, set_path

logger = logging.getLogger(__name__)


class ProjectContext(KedroContext):
    # Kedro's KedroContext._get_validated_params (Kedro 1.7) reads the merged parameters
    # and types them (kedro.validation.ParameterValidator) in one step, before anything
    # could choose their `auto` values; `params` and the catalog's `params:` entries come
    # from it. Overridden here, its one step becomes three: merge, resolve, type.
    # tests/pipelines/test_recipe_session.py pins the Kedro behaviour relied on.
    def _get_validated_params(self) -> dict[str, Any]:
        # Once per scope: the session names the run's pipelines before it builds the
        # catalog, and whether the baseline runs sizes the recipe's budget.
        scope = self._pipelines_to_validate
        if getattr(self, "_typed_scope", ()) != scope:
            resolved = resolve(self.config_loader["parameters"], **self._recipe_scope())
            self._typed_parameters, self._typed_scope = typed_blocks(resolved), scope
        return self._typed_parameters

    def _recipe_scope(self) -> dict[str, bool]:
        """``resolve``'s ``baseline_runs`` and ``trains``: whether the pipelines this run
        was asked for train the from-scratch baseline (nodes tagged ``BASELINE_TAG``), and
        whether they train at all (nodes reading ``NETWORK_PARAMETERS``). The session names
        them before it builds the catalog; unnamed (``__default__``, a notebook's
        ``context.params``): every registered pipeline, the baseline among them."""
        from kedro.framework.project import pipelines

        names = self._pipelines_to_validate
        chosen = pipelines.values() if names is None else [pipelines[name] for name in names]
        nodes = [node for pipeline in chosen for node in pipeline.nodes]
        return {
            "baseline_runs": any(BASELINE_TAG in node.tags for node in nodes),
            "trains": any(NETWORK_PARAMETERS in node.inputs for node in nodes),
        }


def resolve(parameters: dict, baseline_runs: bool = True, trains: bool = True) -> dict:
    """The merged ``parameters`` with every ``auto`` chosen by the recipe (list items given
    on the command line applied after it), checked: the run's one validation, of what
    nodes and hooks will receive; a ParameterError naming every problem stops it before
    any node runs. ``baseline_runs``: whether the run trains the from-scratch baseline
    (it takes a share of the time budget); ``trains``: whether it trains at all (the
    recipe is then printed)."""
    from resnet_finetune.config import check_parameters
    from resnet_finetune.recipe import describe, resolve_recipe

    pending = _take_pending_items(parameters)
    resolved = resolve_recipe(parameters, baseline_runs=baseline_runs, trains=trains)
    for path, items in pending.items():
        _apply_items(resolved, path, items)
    check_parameters(resolved)
    if resolved.get("recipe") and trains:
        logger.info(describe(resolved))
    # `params:recipe` exists in every run (model cards record it), null where the
    # recipe chose nothing.
    resolved.setdefault("recipe", None)
    return resolved


def typed_blocks(parameters: dict) -> dict:
    """``parameters`` with each block a node declares as a dataclass made that object, by
    Kedro's own validator. Every registered pipeline's hints count, not only the run's:
    a block has the same type in every run, for the hooks and notebooks that read it."""
    from kedro.framework.project import pipelines  # none outside a configured project
    from kedro.validation.parameter_validator import ParameterValidator

    return ParameterValidator(dict(pipelines)).validate_raw_params(parameters)


def _pending_paths(tree: Any, path: str = "") -> dict[str, dict]:
    """Where the command line set items of a list left ``auto`` (settings.override)."""
    from resnet_finetune.settings import PENDING_ITEMS

    if not isinstance(tree, dict):
        return {}
    if set(tree) == {PENDING_ITEMS}:
        return {path: tree[PENDING_ITEMS]}
    found = {}
    for key, value in tree.items():
        found.update(_pending_paths(value, f"{path}.{key}" if path else str(key)))
    return found


def _take_pending_items(parameters: dict) -> dict[str, dict]:
    """Remove the pending items from ``parameters`` (lists back to ``auto``), returned by
    dotted path."""
    pending = _pending_paths(parameters)
    for path in pending:
        set_path(parameters, path, "auto")
    return pending


def _apply_items(parameters: dict, path: str, items: dict) -> None:
    """Set list items by index once the recipe has chosen the list."""
    from resnet_finetune.settings import override

    set_path(parameters, path, override(get_path(parameters, path), items, path))
