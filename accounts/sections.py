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


class _Registry:
    """Entries other apps register by key, each visible to the users who hold
    its permission, in order."""

    def __init__(self, what: str, sort_by: str):
        self.what, self.sort_by, self.entries = what, sort_by, {}

    def register(self, entry):
        if self.entries.get(entry.key, entry) != entry:
            raise ValueError(f"Two {self.what} share the key {entry.key!r}.")
        self.entries[entry.key] = entry
        return entry

    def for_user(self, user) -> list:
        return sorted(
            (e for e in self.entries.values() if not e.permission or user.has_perm(e.permission)),
            key=lambda e: (e.order, getattr(e, self.sort_by)),
        )


@dataclass(frozen=True)
class AccountSection:
    key: str
    title: str
    template: str  # rendered with the section's context and ``account``
    context: Callable[[Any, Any], dict[str, Any]]  # (user, account) -> context
    permission: str = ""  # needed to see it; empty: whoever sees the account
    order: int = 100
    tab: str = "details"  # the page's tab it is drawn on (details, journal, ...)
    width: int = 6  # its width on Account Details until a layout says otherwise (of 12)
    takes_params: bool = False  # context(user, account, the query string) (a tab's filters)


_SECTIONS = _Registry("account page sections", "title")


def register_section(section: AccountSection) -> AccountSection:
    return _SECTIONS.register(section)


def sections_for(user, tab: str = "details") -> list[AccountSection]:
    """The registered sections of ``tab`` that ``user`` may see, in page order."""
    return [s for s in _SECTIONS.for_user(user) if s.tab == tab]


# --- the Actions dropdown ----------------------------------------------------------------


@dataclass(frozen=True)
class AccountAction:
    """An entry of the account page's Actions dropdown (seed 004): a page of
    the app that registered it, reached with the account's id."""

    key: str
    label: str
    url_name: str  # reversed with the account's pk
    permission: str = ""  # needed to see it; empty: whoever sees the account
    order: int = 100
    as_button: bool = False  # a button of the page's header (Call Now), not in the dropdown


_ACTIONS = _Registry("account page actions", "label")


def register_action(action: AccountAction) -> AccountAction:
    return _ACTIONS.register(action)


def actions_for(user) -> list[AccountAction]:
    """The Actions dropdown's entries ``user`` may use, in order."""
    return _ACTIONS.for_user(user)
