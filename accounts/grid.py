"""Everything one render of the accounts grid needs, computed in a constant
number of queries: the FilterSet, the count, one page of rows, the table,
the selection counter and the toolbar. Bad paging and sorting input is
corrected with a notice, never an error page."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.forms import BoundField
from django.http import QueryDict

from accounts import selectors
from accounts.columns import DEFAULT_COLUMNS, GRID_COLUMNS, grid_columns
from accounts.filters import AccountFilter
from accounts.tables import account_table_class, page_queryset
from bulkops.registry import Toolbar, toolbar_for
from bulkops.selection import Selection
from bulkops.services.selection_files import selection_file_of

PAGE_SIZES = (25, 50, 100, 500)
DEFAULT_PAGE_SIZE = 50
DEFAULT_SORT = "file_number"

# The filter form above the grid: the search box, these filters beside it,
# and every other filter of the FilterSet under "More filters".
SEARCH_FILTER = "q"
MAIN_FILTERS = ("client", "portfolio", "stage", "assigned_to")


@dataclass
class FilterGroups:
    """The grid's filter fields by where the form shows them. ``more_open``:
    a filter under "More filters" has a value in the request, so the
    section opens and no active filter is hidden."""

    main: list[BoundField]
    more: list[BoundField]
    more_open: bool
    hidden: list[BoundField] = field(default_factory=list)  # "From file", kept as it is


def filter_groups(filterset: AccountFilter) -> FilterGroups:
    form = filterset.form
    main = [form[name] for name in MAIN_FILTERS if name in form.fields]
    more = [
        form[name]
        for name in form.fields
        if name != SEARCH_FILTER and name not in MAIN_FILTERS and not form[name].is_hidden
    ]
    hidden = [field for field in form.hidden_fields() if _has_value(form, field)]
    return FilterGroups(
        main=main,
        more=more,
        more_open=any(_has_value(form, field) for field in more),
        hidden=hidden,
    )


def _has_value(form, field: BoundField) -> bool:
    """Whether the request gave ``field`` a value (valid or not: one the
    filter ignored is shown with its notice, in the open section)."""
    if not form.is_bound:
        return False
    value = field.field.widget.value_from_datadict(form.data, form.files, field.html_name)
    values = value if isinstance(value, list | tuple) else [value]
    return any(v is not None and str(v).strip() != "" for v in values)


@dataclass
class GridState:
    filterset: AccountFilter | None = None
    filters: FilterGroups | None = None
    table: object = None  # the AccountTable of the page (accounts.tables)
    total: int = 0
    selected: int = 0
    selection: Selection | None = None
    page: int = 1
    pages: int = 1
    per_page: int = DEFAULT_PAGE_SIZE
    sort: str = DEFAULT_SORT
    columns: list[str] = field(default_factory=list)
    query: str = ""
    saved_list: object = None
    selection_file: object = None  # the uploaded file whose accounts the grid shows
    without_file_query: str = ""
    toolbar: Toolbar = field(default_factory=Toolbar)
    notices: list[str] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    rows: list = field(default_factory=list)

    @property
    def page_sizes(self):
        return PAGE_SIZES

    def page_query(self, page: int) -> str:
        query = QueryDict(self.query, mutable=True)
        query["page"] = str(page)
        return query.urlencode()

    @property
    def previous_query(self):
        return self.page_query(self.page - 1) if self.page > 1 else None

    @property
    def next_query(self):
        return self.page_query(self.page + 1) if self.page < self.pages else None

    @classmethod
    def for_selection_bar(cls, user, querydict: QueryDict, selection: Selection) -> GridState:
        """Just the counter and toolbar (after a row checkbox changed)."""
        filterset = AccountFilter.for_user(user, querydict)
        matching = filterset.qs
        state = cls(
            selection=selection, query=querydict.urlencode(), toolbar=toolbar_for(user, "accounts")
        )
        state.total = matching.count()
        state.selected = selection.count(user, matching_count=state.total)
        return state


def _sort_keys() -> dict[str, tuple[str, ...]]:
    """What sorting by each sortable grid column orders by (accounts.columns)."""
    return {c.key: c.grid.sort for c in grid_columns() if c.grid.sort}


def build_grid(user, querydict: QueryDict, *, selection: Selection) -> GridState:
    state = GridState(selection=selection, query=querydict.urlencode())
    # Columns: a saved list's, else the user's remembered choice.
    saved_list = None
    if querydict.get("list"):
        try:
            saved_list = (
                selectors.saved_lists_visible_to(user).filter(pk=int(querydict["list"])).first()
            )
        except ValueError:
            saved_list = None
        if saved_list is None:
            state.notices.append("That saved list does not exist or is not shared with you.")
    state.saved_list = saved_list
    if saved_list is not None and saved_list.columns:
        columns = saved_list.columns
    else:
        columns = selectors.grid_columns_for(user)
    state.columns = [c for c in columns if c in GRID_COLUMNS] or list(DEFAULT_COLUMNS)

    # Page size
    raw_size = querydict.get("per_page")
    state.per_page = DEFAULT_PAGE_SIZE
    if raw_size:
        try:
            size = int(raw_size)
        except ValueError:
            size = None
        if size in PAGE_SIZES:
            state.per_page = size
        else:
            state.notices.append(
                f"Page size must be one of {', '.join(map(str, PAGE_SIZES))}; showing {DEFAULT_PAGE_SIZE}."
            )

    if querydict.get("file"):
        state.selection_file = selection_file_of(user, "accounts", querydict["file"])
        if state.selection_file is None:
            state.notices.append(
                "That file of file numbers is not yours or has expired; no account matches it."
            )
        without = querydict.copy()
        without.pop("file", None)
        without.pop("page", None)
        state.without_file_query = without.urlencode()

    filterset = AccountFilter.for_user(user, querydict)
    state.filterset = filterset
    state.filters = filter_groups(filterset)
    state.notices.extend(filterset.problems)
    matching = filterset.qs

    def make_table(rows):
        return account_table_class()(
            rows,
            selection=selection,
            columns=state.columns,
            unmasked=user.has_perm("accounts.view_unmasked_data"),
        )

    # Any orderable column sorts, shown or not (a saved list's default sort, or
    # the File Number fallback when the user hid that column).
    sort_keys = _sort_keys()
    requested = querydict.get("sort") or DEFAULT_SORT
    name = requested.removeprefix("-")
    if name not in sort_keys:
        state.notices.append(f"Cannot sort by “{requested}”; sorted by File Number instead.")
        requested, name = DEFAULT_SORT, DEFAULT_SORT
    descending = requested.startswith("-")
    state.sort = requested
    order = []
    for key in sort_keys[name]:
        flipped = key[1:] if key.startswith("-") else f"-{key}"
        order.append(flipped if descending else key)
    order.append("-pk" if descending else "pk")  # a stable order across pages

    state.total = matching.count()
    state.pages = max(1, -(-state.total // state.per_page))
    raw_page = querydict.get("page") or "1"
    try:
        page = int(raw_page)
    except ValueError:
        page = 1
        state.notices.append(f"“{raw_page}” is not a page number; showing page 1.")
    if page < 1:
        page = 1
    if page > state.pages:
        state.notices.append(f"There is no page {page}; showing the last page, {state.pages}.")
        page = state.pages
    state.page = page
    offset = (page - 1) * state.per_page
    # The page is ordered and sliced in SQL; the table only renders it.
    # Other apps' columns shown are annotations of the page query, given the
    # valid filters (billing's Balance as of, at the As of Date).
    valid_filters = filterset.form.cleaned_data
    annotations = {
        column.key: column.grid.annotate(valid_filters)
        for column in grid_columns()
        if column.grid.annotate is not None and column.key in state.columns
    }
    page_rows = page_queryset(matching.order_by(*order)).annotate(**annotations)
    rows = list(page_rows[offset : offset + state.per_page])
    table = make_table(rows)
    state.table = table
    state.rows = table.body()
    state.selected = selection.count(user, matching_count=state.total)
    state.toolbar = toolbar_for(user, "accounts")
    state.headers = [
        {
            "name": column.name,
            "label": column.header,
            "sortable": column.name in sort_keys,
            "active": name == column.name,
            "descending": descending and name == column.name,
            "sort_query": _with_sort(
                querydict, column.name, name == column.name and not descending
            ),
            "attrs": column.attrs.get("th", {}),
        }
        for column in table.columns
        if column.name != "select"
    ]
    return state


def _with_sort(querydict: QueryDict, column: str, make_descending: bool) -> str:
    query = querydict.copy()
    query["sort"] = f"-{column}" if make_descending else column
    query.pop("page", None)
    return query.urlencode()
