"""Sections other apps contribute to the account page.

The account page belongs to the accounts app, but what it shows of money,
messages or files belongs to the apps above it: billing registers its
Claims and Journal, for example. An app registers its sections in its
AppConfig.ready; the page renders each, in order, for users who hold its
permission. The accounts app itself never imports those apps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_SECTIONS: dict[str, AccountSection] = {}


@dataclass(frozen=True)
class AccountSection:
    key: str
    title: str
    template: str  # rendered with the section's context and ``account``
    context: Callable[[Any, Any], dict[str, Any]]  # (user, account) -> context
    permission: str = ""  # needed to see it; empty: whoever sees the account
    order: int = 100


def register_section(section: AccountSection) -> AccountSection:
    if section.key in _SECTIONS and _SECTIONS[section.key] != section:
        raise ValueError(f"Two account page sections share the key {section.key!r}.")
    _SECTIONS[section.key] = section
    return section


def sections_for(user) -> list[AccountSection]:
    """The registered sections ``user`` may see, in page order."""
    return sorted(
        (s for s in _SECTIONS.values() if not s.permission or user.has_perm(s.permission)),
        key=lambda s: (s.order, s.title),
    )


# --- the Actions dropdown ----------------------------------------------------------------

_ACTIONS: dict[str, AccountAction] = {}


@dataclass(frozen=True)
class AccountAction:
    """An entry of the account page's Actions dropdown (seed 004): a page of
    the app that registered it, reached with the account's id."""

    key: str
    label: str
    url_name: str  # reversed with the account's pk
    permission: str = ""  # needed to see it; empty: whoever sees the account
    order: int = 100


def register_action(action: AccountAction) -> AccountAction:
    if action.key in _ACTIONS and _ACTIONS[action.key] != action:
        raise ValueError(f"Two account page actions share the key {action.key!r}.")
    _ACTIONS[action.key] = action
    return action


def actions_for(user) -> list[AccountAction]:
    """The Actions dropdown's entries ``user`` may use, in order."""
    return sorted(
        (a for a in _ACTIONS.values() if not a.permission or user.has_perm(a.permission)),
        key=lambda a: (a.order, a.label),
    )
