"""One pager for every paged list (operations, outcomes, the audit log, and
the lists to come): 50 rows a page, bad page numbers corrected rather than
refused, the query string kept across pages, and, for lists that grow into
the millions, a count that stops at a cap ("10,000+") instead of counting
every row on every page view."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.core.paginator import Page, Paginator

PER_PAGE = 50


class CappedPaginator(Paginator):
    """A paginator whose count is exact up to ``cap`` rows; past it, the
    count is ``cap + 1`` and ``capped`` is true (the count is one ``LIMIT``ed
    subquery, however many rows match)."""

    def __init__(self, object_list, per_page, *, cap: int | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap

    @cached_property
    def count(self) -> int:
        if self.cap is None:
            return super().count
        return self.object_list[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.cap is not None and self.count > self.cap


@dataclass
class PagedList:
    """A page of a list and what its pager shows."""

    page: Page
    query: str  # the request's query string without ``page``

    @property
    def paginator(self) -> CappedPaginator:
        return self.page.paginator

    @property
    def total_label(self) -> str:
        paginator = self.paginator
        if paginator.capped:
            return f"more than {paginator.cap:,}"
        return f"{paginator.count:,}"

    @property
    def pages_label(self) -> str:
        paginator = self.paginator
        return f"{paginator.num_pages:,}{'+' if paginator.capped else ''}"

    def __iter__(self):
        return iter(self.page)


def paginate(request, queryset, *, per_page: int = PER_PAGE, cap: int | None = None) -> PagedList:
    """The requested page of ``queryset`` (ordered by the caller); a page
    past the end shows the last, a malformed one the first."""
    page = CappedPaginator(queryset, per_page, cap=cap).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return PagedList(page=page, query=query.urlencode())
