"""The accounts grid table, made from the account column catalogue
(accounts.columns): a column for every grid column there, with its label,
sort keys, classes and cell. Which of them show is the user's choice
(a common.TablePreference) or the saved list's."""

from __future__ import annotations

from functools import cache, partial

import django_tables2 as tables
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.columns import DEFAULT_COLUMNS, GRID_COLUMNS, AccountColumn, grid_columns
from accounts.models import Account


class SelectColumn(tables.Column):
    """The row checkbox; its state comes from the table's Selection."""

    def __init__(self, **kwargs):
        super().__init__(empty_values=(), orderable=False, verbose_name="", **kwargs)


def _table_column(column: AccountColumn) -> tables.Column:
    grid = column.grid
    attrs = {}
    if grid.css:
        attrs["td"] = {"class": grid.css}
    if grid.header_css:
        attrs["th"] = {"class": grid.header_css}
    return tables.Column(
        verbose_name=column.label,
        accessor=grid.accessor,
        order_by=grid.sort or None,
        orderable=None if grid.sort else False,
        attrs=attrs,
        **({"empty_values": ()} if grid.always else {}),
    )


class _Meta:
    model = Account
    fields: list[str] = []
    attrs = {
        "class": "table table-sm table-hover table-grid align-middle",
        "id": "accounts-table",
    }
    order_by_field = "sort"
    empty_text = "No accounts match these filters."


class _AccountTable:
    """What AccountTable adds to django-tables2's Table (the class itself is
    made below, its columns from the catalogue)."""

    def __init__(self, *args, selection=None, columns=None, unmasked=False, **kwargs):
        columns = columns or DEFAULT_COLUMNS
        exclude = [name for name in GRID_COLUMNS if name not in columns]
        super().__init__(*args, exclude=exclude, **kwargs)
        self.selection = selection
        self.unmasked = unmasked
        self.sequence = ["select", *[c for c in columns if c in GRID_COLUMNS]]
        self.today = timezone.localdate()
        # Account pages live at <grid>/<pk>/ (accounts.urls); one reverse() per table.
        self.detail_prefix = reverse("accounts:grid")

    # --- cells ------------------------------------------------------------------
    # Every cell is made from (value, record): the catalogue's ``Grid.cell``,
    # given the table. ``body`` looks each up once per table, not once per
    # cell: django-tables2's per-cell signature introspection was a third of
    # the page's Python time at 50 rows.

    def body(self) -> list[tuple[object, list[tuple[str, object]]]]:
        """The page as [(record, [(td class, cell), ...])], columns in order."""
        cells_of = {c.key: c.grid.cell for c in grid_columns() if c.grid.cell is not None}
        plan = []
        for bound in self.columns:
            render = self.render_select if bound.name == "select" else None
            if bound.name in cells_of:
                render = partial(cells_of[bound.name], self)
            td_class = bound.column.attrs.get("td", {}).get("class", "")
            plan.append(
                (bound.accessor, render, bound.column.empty_values, bound.default, td_class)
            )
        rows = []
        for record in self.data:
            cells = []
            for accessor, render, empty_values, default, td_class in plan:
                value = accessor.resolve(record, quiet=True)
                if value in empty_values:
                    cell = default
                elif render is not None:
                    cell = render(value, record)
                else:
                    cell = value
                cells.append((td_class, cell))
            rows.append((record, cells))
        return rows

    def render_select(self, value, record):
        checked = self.selection is not None and self.selection.includes(record.pk)
        return format_html(
            '<input type="checkbox" class="form-check-input row-select" name="account" '
            'value="{}" aria-label="Select {}"{}>',
            record.pk,
            record.file_number,
            " checked" if checked else "",
        )


@cache
def account_table_class():
    """The table class, made when first used: by then every app has
    registered its grid columns (``register_grid_columns``, apps' ready)."""
    meta = type("Meta", (_Meta,), {"sequence": ["select", *GRID_COLUMNS]})
    return type(tables.Table)(
        "AccountTable",
        (_AccountTable, tables.Table),
        {
            "__module__": __name__,
            "__doc__": "The accounts grid: the row checkbox, then every grid column.",
            "Meta": meta,
            "select": SelectColumn(),
            **{c.key: _table_column(c) for c in grid_columns()},
        },
    )


def page_queryset(queryset):
    """What one page of the grid needs, in a constant number of queries,
    whichever columns show.

    Only the debtor (a million rows) is joined. The small reference tables are
    fetched by primary key, one short query each: joining all eight tables
    cost PostgreSQL ~48 ms of planning for a 1 ms query."""
    joined = dict.fromkeys(c.grid.join for c in grid_columns() if c.grid.join)
    fetched = dict.fromkeys(c.grid.prefetch for c in grid_columns() if c.grid.prefetch)
    return queryset.select_related(*joined).prefetch_related(*fetched)
