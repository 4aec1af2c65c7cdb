"""The project's Kedro context: its parameters are the recipe's.

Kedro merges base, the environment and ``--params``; this context then has
``resnet_finetune.recipe.resolve_recipe`` choose every value left ``auto``, once, before
the catalog is built, validates the result (``config.check_parameters``: the run's only
validation) and logs the recipe. Nodes, hooks, notebooks (``context.params``)
and kedro-mlflow all see the resolved values; nothing downstream knows ``auto``.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.context import KedroContext

logger = logging.getLogger(__name__)


class ProjectContext(KedroContext):
    def _get_validated_params(self) -> dict[str, Any]:
        raw = super()._get_validated_params()
        if getattr(self, "_recipe_of", None) is not raw:
            from resnet_finetune.config import check_parameters
            from resnet_finetune.recipe import describe, resolve_recipe

            pending = _take_pending_items(raw)
            resolved = resolve_recipe(raw, baseline_runs=self._baseline_runs())
            for path, items in pending.items():
                _apply_items(resolved, path, items)
            # The run's one validation, of what nodes and hooks will receive: a
            # ParameterError naming every problem stops it before any node runs.
            check_parameters(resolved)
            self._recipe_of, self._resolved_params = raw, resolved
            if "recipe" in resolved:
                logger.info(describe(resolved))
        return self._resolved_params

    def _baseline_runs(self) -> bool:
        """Whether the pipelines this run was asked for train the from-scratch baseline
        (nodes tagged ``BASELINE_TAG``). The session names them before it builds the
        catalog; unnamed (``__default__``, a notebook's ``context.params``): every
        registered pipeline, the baseline among them."""
        from kedro.framework.project import pipelines

        from resnet_finetune.pipelines import BASELINE_TAG

        names = self._pipelines_to_validate
        if names is None:
            return True
        return any(BASELINE_TAG in node.tags for name in names for node in pipelines[name].nodes)


def _pending_paths(tree: Any, path: tuple = ()) -> dict[tuple, dict]:
    """Where the command line set items of a list left ``auto`` (settings.override)."""
    from resnet_finetune.settings import PENDING_ITEMS

    if not isinstance(tree, dict):
        return {}
    if set(tree) == {PENDING_ITEMS}:
        return {path: tree[PENDING_ITEMS]}
    found = {}
    for key, value in tree.items():
        found.update(_pending_paths(value, (*path, key)))
    return found


def _take_pending_items(parameters: dict) -> dict[tuple, dict]:
    """Remove the pending items from ``parameters`` (lists back to ``auto``), returned by
    path."""
    pending = _pending_paths(parameters)
    for path in pending:
        _set(parameters, path, "auto")
    return pending


def _apply_items(parameters: dict, path: tuple, items: dict) -> None:
    """Set list items by index once the recipe has chosen the list."""
    from resnet_finetune.settings import override

    parent = parameters
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = override(parent[path[-1]], items, ".".join(path))


def _set(tree: dict, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value
