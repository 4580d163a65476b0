"""The bulk-action registry: apps register their actions; the grid's toolbar
and the engine read them from here and know nothing else about them."""

from __future__ import annotations

from dataclasses import dataclass

_REGISTRY: dict[str, type] = {}


def register(action_class: type) -> type:
    """Class decorator: ``@register`` on a BulkAction subclass."""
    key = action_class.key
    if key in _REGISTRY and _REGISTRY[key] is not action_class:
        raise ValueError(f"Two bulk actions share the key {key!r}.")
    _REGISTRY[key] = action_class
    return action_class


def get_action(key: str):
    return _REGISTRY.get(key)


def all_actions() -> list[type]:
    return sorted(_REGISTRY.values(), key=lambda a: (a.order, a.label))


@dataclass(frozen=True)
class ToolbarButton:
    key: str
    label: str
    allowed: bool


def toolbar_for(user) -> list[ToolbarButton]:
    """Every registered action, and whether this user may use it."""
    return [
        ToolbarButton(action.key, action.label, user.has_perm(action.permission))
        for action in all_actions()
    ]
