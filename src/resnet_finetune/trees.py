"""Nested parameter mappings addressed by dotted paths (``target.input.image_size``)."""

from __future__ import annotations

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
