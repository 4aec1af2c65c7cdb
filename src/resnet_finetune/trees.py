"""Nested parameter mappings addressed by dotted paths (``target.input.image_size``), and
read back as plain values."""

from __future__ import annotations

import dataclasses
from typing import Any


def get_path(tree: dict, path: str) -> Any:
    """The value at ``path``, or ``None`` where a key on the way is missing."""
    node = tree
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def set_path(tree: dict, path: str, value: Any) -> None:
    """Set ``path`` to ``value``, making the mappings on the way that are missing."""
    *parents, last = path.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def leaves(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(path, value)`` of each leaf of ``tree`` (a list is a leaf), each path after
    ``prefix`` (``"target."``); a ``tree`` that is no mapping is the leaf at ``prefix``."""
    if not isinstance(tree, dict):
        return [(prefix[:-1], tree)]
    return [leaf for key, value in tree.items() for leaf in leaves(value, f"{prefix}{key}.")]


def plain(value: Any) -> Any:
    """``value`` as YAML would give it: a parameter block's object (a dataclass, such as
    ``TrainingOptions``) as the mapping of its fields, tuples as lists, at any depth. For
    what records parameters (model cards, MLflow, checkpoint identities): the same block
    reads the same whether a node received it typed or not."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
