"""Selection: what the user picked in a selectable list (the accounts grid).

Either explicit row IDs (ticked rows, or the rows of an uploaded file), or
"every row matching this filter" minus excluded IDs. One immutable,
serialisable value. ``resolve(user)`` always goes through the list's own
FilterSet and visibility (``registry.Selectable``), so a selection can never
reach a row the user cannot see, and "all matching" means exactly what the
list showed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict

from bulkops.registry import Selectable, get_selectable

MAX_EXPLICIT_IDS = 10_000


class SelectionError(ValueError):
    """A selection that cannot be honoured, with a message for the user."""


@dataclass(frozen=True)
class Selection:
    selectable: str  # the key of the list it was made in
    filters: tuple[tuple[str, str], ...] = ()
    all_matching: bool = False
    ids: frozenset[int] = field(default_factory=frozenset)
    excluded: frozenset[int] = field(default_factory=frozenset)

    # --- construction -------------------------------------------------------

    @classmethod
    def for_filters(cls, selectable: str, querydict: QueryDict) -> Selection:
        """An empty selection bound to the filters of a list's URL."""
        return cls(selectable, filters=tuple(get_selectable(selectable).filter_params(querydict)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        """Rebuild from ``to_dict`` output; refuses anything malformed."""
        try:
            selectable = get_selectable(str(data["selectable"]))
            pairs = data.get("filters", [])
            if not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
                raise ValueError("filters must be pairs")
            filters = tuple((str(k), str(v)) for k, v in pairs)
            ids = frozenset(int(i) for i in data.get("ids", []))
            excluded = frozenset(int(i) for i in data.get("excluded", []))
            all_matching = data.get("all_matching", False)
            if not isinstance(all_matching, bool):
                raise ValueError("all_matching must be true or false")
        except (TypeError, ValueError, AttributeError, KeyError, LookupError) as exc:
            raise SelectionError("The selection could not be read; select the rows again.") from exc
        if len(ids) > MAX_EXPLICIT_IDS or len(excluded) > MAX_EXPLICIT_IDS:
            raise SelectionError(_too_many(selectable))
        return cls(
            selectable.key, filters=filters, all_matching=all_matching, ids=ids, excluded=excluded
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "selectable": self.selectable,
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

    def toggle(self, row_id: int, checked: bool) -> Selection:
        if self.all_matching:
            excluded = self.excluded - {row_id} if checked else self.excluded | {row_id}
            return replace(self, excluded=frozenset(excluded))
        ids = self.ids | {row_id} if checked else self.ids - {row_id}
        if len(ids) > MAX_EXPLICIT_IDS:
            raise SelectionError(_too_many(self.list))
        return replace(self, ids=frozenset(ids))

    # --- reading ---------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        return not self.all_matching and not self.ids

    def includes(self, row_id: int) -> bool:
        """Whether a row the grid shows (so it matches the filters) is selected."""
        if self.all_matching:
            return row_id not in self.excluded
        return row_id in self.ids

    def querydict(self) -> QueryDict:
        qd = QueryDict(mutable=True)
        for key, value in self.filters:
            qd.appendlist(key, value)
        return qd

    @property
    def list(self) -> Selectable:
        return get_selectable(self.selectable)

    def matching(self, user) -> QuerySet:
        """Every row the filters match for this user (ignores picks)."""
        return self.list.filterset(user, self.querydict()).qs

    def resolve(self, user) -> QuerySet:
        """The selected rows, always within what ``user`` may see."""
        if self.all_matching:
            queryset = self.matching(user)
            if self.excluded:
                queryset = queryset.exclude(pk__in=self.excluded)
            return queryset
        visible = self.list.visible_to(user)
        if not self.ids:
            return visible.none()
        return visible.filter(pk__in=self.ids)

    def count(self, user, *, matching_count: int | None = None) -> int:
        """How many rows are selected. In select-all mode this is the
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
        return self.list.visible_to(user).filter(pk__in=self.ids).count()


def _too_many(selectable: Selectable) -> str:
    return (
        f"Pick at most {MAX_EXPLICIT_IDS:,} {selectable.plural} one by one; "
        "use select all for more."
    )


# --- a list's selection lives in the session ------------------------------------------


def store_selection(request, selection: Selection) -> None:
    request.session[selection.list.session_key] = selection.to_dict()


def current_selection(
    request, selectable: str, querydict: QueryDict
) -> tuple[Selection, str | None]:
    """The session's selection in the list ``selectable`` if it was made under
    these filters; otherwise a new, empty one, and a notice saying why the
    old one was dropped."""
    selectable_list = get_selectable(selectable)
    filters = tuple(selectable_list.filter_params(querydict))
    stored = None
    data = request.session.get(selectable_list.session_key)
    if data:
        try:
            stored = Selection.from_dict(data)
        except SelectionError:
            stored = None
    if stored is not None and stored.selectable == selectable and stored.filters == filters:
        return stored, None
    fresh = Selection(selectable, filters=filters)
    notice = None
    if stored is not None and not stored.is_empty:
        notice = "The filters changed, so the previous selection was cleared."
    store_selection(request, fresh)
    return fresh, notice
