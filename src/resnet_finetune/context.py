"""The project's Kedro context: its parameters are the recipe's.

Kedro merges base, the environment and ``--params``; this context then has
``resnet_finetune.recipe.resolve_recipe`` choose every value left ``auto``, once, before
the catalog is built, and logs the recipe. Nodes, hooks, notebooks (``context.params``)
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
            from resnet_finetune.recipe import describe, resolve_recipe
            from resnet_finetune.schema import validate_parameters

            try:
                validate_parameters(raw)
            except ValueError:
                # Left as given: ParameterCheckHook names every problem before any node
                # runs, as it does for any parameter; the recipe reads only valid ones.
                self._recipe_of, self._resolved_params = raw, raw
                return raw
            self._resolved_params = resolve_recipe(raw)
            self._recipe_of = raw
            if "recipe" in self._resolved_params:
                logger.info(describe(self._resolved_params))
        return self._resolved_params
