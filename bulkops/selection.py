"""Selection: what the user picked in the grid.

Either explicit account IDs, or "every account matching this filter" minus
excluded IDs. One immutable, serialisable value. ``resolve(user)`` always
goes through ``accounts_visible_to`` and the grid's own ``AccountFilter``,
so a selection can never reach an account the user cannot see, and "all
matching" means exactly what the grid showed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict

from accounts.filters import AccountFilter, filter_params
from accounts.models import Account
from accounts.selectors import accounts_visible_to

MAX_EXPLICIT_IDS = 10_000


class SelectionError(ValueError):
    """A selection that cannot be honoured, with a message for the user."""


@dataclass(frozen=True)
class Selection:
    filters: tuple[tuple[str, str], ...] = ()
    all_matching: bool = False
    ids: frozenset[int] = field(default_factory=frozenset)
    excluded: frozenset[int] = field(default_factory=frozenset)

    # --- construction -------------------------------------------------------

    @classmethod
    def for_filters(cls, querydict: QueryDict) -> Selection:
        """An empty selection bound to the filters of a grid URL."""
        return cls(filters=tuple(filter_params(querydict)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        """Rebuild from ``to_dict`` output; refuses anything malformed."""
        try:
            pairs = data.get("filters", [])
            if not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
                raise ValueError("filters must be pairs")
            filters = tuple((str(k), str(v)) for k, v in pairs)
            ids = frozenset(int(i) for i in data.get("ids", []))
            excluded = frozenset(int(i) for i in data.get("excluded", []))
            all_matching = data.get("all_matching", False)
            if not isinstance(all_matching, bool):
                raise ValueError("all_matching must be true or false")
        except (TypeError, ValueError, AttributeError) as exc:
            raise SelectionError(
                "The selection could not be read; select the accounts again."
            ) from exc
        if len(ids) > MAX_EXPLICIT_IDS or len(excluded) > MAX_EXPLICIT_IDS:
            raise SelectionError(
                f"Pick at most {MAX_EXPLICIT_IDS:,} accounts one by one; use select all for more."
            )
        return cls(filters=filters, all_matching=all_matching, ids=ids, excluded=excluded)

    def to_dict(self) -> dict[str, Any]:
        return {
            "filters": [list(pair) for pair in self.filters],
            "all_matching": self.all_matching,
            "ids": sorted(self.ids),
            "excluded": sorted(self.excluded),
        }

    # --- changes (each returns a new Selection) -------------------------------

    def select_all(self) -> Selection:
        return replace(self, all_matching=True, ids=frozenset(), excluded=frozenset())

    def clear(self) -> Selection:
        return replace(self, all_matching=False, ids=frozenset(), excluded=frozenset())

    def toggle(self, account_id: int, checked: bool) -> Selection:
        if self.all_matching:
            excluded = self.excluded - {account_id} if checked else self.excluded | {account_id}
            return replace(self, excluded=frozenset(excluded))
        ids = self.ids | {account_id} if checked else self.ids - {account_id}
        if len(ids) > MAX_EXPLICIT_IDS:
            raise SelectionError(
                f"Pick at most {MAX_EXPLICIT_IDS:,} accounts one by one; use select all for more."
            )
        return replace(self, ids=frozenset(ids))

    # --- reading ---------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        return not self.all_matching and not self.ids

    def includes(self, account_id: int) -> bool:
        """Whether a row the grid shows (so it matches the filters) is selected."""
        if self.all_matching:
            return account_id not in self.excluded
        return account_id in self.ids

    def querydict(self) -> QueryDict:
        qd = QueryDict(mutable=True)
        for key, value in self.filters:
            qd.appendlist(key, value)
        return qd

    def matching(self, user) -> QuerySet[Account]:
        """Every account the filters match for this user (ignores picks)."""
        return AccountFilter.for_user(user, self.querydict()).qs

    def resolve(self, user) -> QuerySet[Account]:
        """The selected accounts, always within what ``user`` may see."""
        if self.all_matching:
            queryset = self.matching(user)
            if self.excluded:
                queryset = queryset.exclude(pk__in=self.excluded)
            return queryset
        if not self.ids:
            return Account.objects.none()
        return accounts_visible_to(user).filter(pk__in=self.ids)

    def count(self, user, *, matching_count: int | None = None) -> int:
        """How many accounts are selected. In select-all mode this is the
        matching count minus the exclusions still among the matching rows:
        two index-friendly counts, where one ``NOT IN`` count makes
        PostgreSQL read the whole table. ``matching_count`` reuses a count
        the caller already has (the grid's "of M")."""
        if self.all_matching:
            matching = self.matching(user)
            total = matching.count() if matching_count is None else matching_count
            if not self.excluded:
                return total
            return total - matching.filter(pk__in=self.excluded).count()
        if not self.ids:
            return 0
        return accounts_visible_to(user).filter(pk__in=self.ids).count()


# --- the grid's selection lives in the session ----------------------------------------

SESSION_KEY = "account_selection"


def store_selection(request, selection: Selection) -> None:
    request.session[SESSION_KEY] = selection.to_dict()


def current_selection(request, querydict: QueryDict) -> tuple[Selection, str | None]:
    """The session's selection if it was made under these filters; otherwise a
    new, empty one, and a notice saying why the old one was dropped."""
    filters = tuple(filter_params(querydict))
    stored = None
    data = request.session.get(SESSION_KEY)
    if data:
        try:
            stored = Selection.from_dict(data)
        except SelectionError:
            stored = None
    if stored is not None and stored.filters == filters:
        return stored, None
    fresh = Selection(filters=filters)
    notice = None
    if stored is not None and not stored.is_empty:
        notice = "The filters changed, so the previous selection was cleared."
    store_selection(request, fresh)
    return fresh, notice
