"""The account column catalogue: every column of an account that the grid
shows or an export writes, declared once, in the order the column chooser
offers them.

An entry holds the label and kind; for a grid column, its grid rendering
(``Grid``: sort keys, cell, classes, what the page query fetches for it);
the Python value (``fields``, an ``annotation`` or a ``lookup``, and
``get``); the SQL expression of the COPY path and the joins it reads; and
the masks in Python and SQL side by side (``accounts.masking``). The grid
table (``accounts.tables``), the column chooser and saved lists
(``accounts.forms``), the remembered grid columns (``accounts.services``)
and Export, both its paths (``accounts.actions.export``), are made from it:
adding a column is one entry. Other apps add export columns of their own
with ``register_columns`` (billing's claims summary, from billing.apps);
custom fields add one column each, for the users who may see them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

from accounts.masking import (
    full_name,
    full_name_sql,
    mask_account_number,
    mask_account_number_sql,
    mask_email,
    mask_email_sql,
    mask_full_name_sql,
    mask_name,
    mask_name_sql,
    mask_phone,
    mask_phone_sql,
)
from accounts.models import (
    Account,
    AccountFlag,
    CustomField,
    CustomFieldValue,
    DebtorEmail,
    DebtorPhone,
    Flag,
)
from accounts.states import STATE_CHOICES
from bulkops.exports.cells import DATE, DATETIME, INTEGER, MONEY, NUMBER, TEXT
from bulkops.exports.columns import Column, Lookup
from bulkops.exports.copy import choice_labels, date_text, literal, quote_table

CUSTOM_PREFIX = "cf:"
STATE_NAMES = dict(STATE_CHOICES)


@dataclass(frozen=True)
class Grid:
    """How the grid shows a column. ``sort``: what sorting by it orders by
    (none: it does not sort); ``accessor``: what of the account the cell
    shows (default: the key); ``cell(table, value, record)``: the cell
    (default: the value); ``always``: a cell even for an empty value (else
    "—"); ``css`` and ``header_css``: the td and th class; ``join`` and
    ``prefetch``: the relation the page query joins or fetches for it;
    ``default``: shown to whoever has not chosen their columns;
    ``annotate(filters)``: for a column of another app's data, the
    expression the page query annotates each row with (as the key), given
    the grid's valid filter values: read in the page's own query, for its
    rows only."""

    sort: tuple[str, ...] = ()
    accessor: str | None = None
    cell: Callable[[Any, Any, Any], Any] | None = None
    always: bool = False
    css: str = ""
    header_css: str = ""
    join: str = ""
    prefetch: str = ""
    default: bool = False
    annotate: Callable[[dict[str, Any]], Any] | None = None


@dataclass(frozen=True)
class AccountColumn(Column):
    grid: Grid | None = None
    custom_field_id: int | None = None


def money(value) -> str:
    return f"${value:,.2f}"


# --- what some columns read besides the account row -----------------------------------------


def _primary(model, value_field):
    """The debtor's primary email or phone, as a subquery of the row query."""
    return Subquery(
        model.objects.filter(debtor_id=OuterRef("debtor_id"), is_primary=True)
        .order_by("pk")
        .values(value_field)[:1]
    )


def _load_flags(ids: list[int], columns) -> dict[int, list[str]]:
    flags = defaultdict(list)
    for account_id, name in (
        AccountFlag.objects.filter(account_id__any=ids)
        .order_by("flag__name")
        .values_list("account_id", "flag__name")
    ):
        flags[account_id].append(name)
    return flags


def _load_custom_values(ids: list[int], columns) -> dict[tuple[int, int], str]:
    return {
        (account_id, field_id): value
        for account_id, field_id, value in CustomFieldValue.objects.filter(
            account_id__any=ids, field_id__in=[c.custom_field_id for c in columns]
        ).values_list("account_id", "field_id", "value")
    }


FLAGS = Lookup("flags", _load_flags)
CUSTOM_VALUES = Lookup("custom", _load_custom_values)


# --- grid cells: (table, value, record) -> what the cell shows ------------------------------


def _file_number_cell(table, value, record):
    return format_html('<a href="{}{}/">{}</a>', table.detail_prefix, record.pk, value)


def _account_number_cell(table, value, record):
    return value if table.unmasked else mask_account_number(value)


def _debtor_cell(table, value, record):
    return f"{record.debtor.first_name} {record.debtor.last_name}"


def _text_cell(table, value, record):
    return str(value)


def _money_cell(table, value, record):
    return money(value)


def _datetime_cell(table, value, record):
    return date_format(timezone.localtime(value), "Y-m-d H:i")


def _date_cell(table, value, record):
    return date_format(value, "Y-m-d")


def _state_cell(table, value, record):
    return record.debtor.get_state_display()


def _stage_cell(table, value, record):
    return record.get_stage_display()


def _flags_cell(table, value, record):
    names = [flag.name for flag in record.flags.all()]
    return ", ".join(names) if names else "—"


def _days_since_cell(table, value, record):
    return (table.today - value).days


# --- values and SQL that take more than a line ----------------------------------------------


def _assigned_to(row, context):
    if row["assigned_to__username"] is None:
        return None
    # As User.__str__ (the grid's cell): the full name, else the username.
    return (
        full_name(row["assigned_to__first_name"], row["assigned_to__last_name"])
        or row["assigned_to__username"]
    )


def _assigned_to_sql(today) -> str:
    name = full_name_sql("u.first_name", "u.last_name")
    return f"CASE WHEN u.id IS NULL THEN NULL WHEN {name} = '' THEN u.username ELSE {name} END"


def _last_worked_sql(today) -> str:
    zone = literal(settings.TIME_ZONE)
    return f"to_char(a.last_worked_at AT TIME ZONE {zone}, 'YYYY-MM-DD HH24:MI')"


def _days_since_default(row, context):
    default_date = row["default_date"]
    return None if default_date is None else (context.today - default_date).days


def _days_since_default_sql(today) -> str:
    return f"({literal(today.isoformat())}::date - a.default_date)::text"


def _flags_sql(today) -> str:
    return (
        "(SELECT string_agg(f.name, ', ' ORDER BY f.name) "
        f"FROM {quote_table(AccountFlag)} af JOIN {quote_table(Flag)} f ON f.id = af.flag_id "
        "WHERE af.account_id = a.id)"
    )


def _address(name: str, label: str) -> AccountColumn:
    """A line of the debtor's postal address."""
    return AccountColumn(name, label, fields=(f"debtor__{name}",), sql=f"d.{name}", joins=("d",))


# --- the catalogue ----------------------------------------------------------------------------

# The SQL of every column is an expression of text over the account (alias
# ``a``) and the tables it names in ``joins`` (accounts.actions.export).
# Laid out by hand, an entry a few lines: what the formatter would make of
# them hides the table they are.
# fmt: off
COLUMNS: list[AccountColumn] = [
    AccountColumn(
        "file_number", "File Number", fields=("file_number",), sql="a.file_number",
        grid=Grid(sort=("file_number",), cell=_file_number_cell, default=True),
    ),
    AccountColumn(
        "client", "Client", fields=("client__name",), sql="c.name", joins=("c",),
        grid=Grid(sort=("client__name",), accessor="client__name", prefetch="client", default=True),
    ),
    AccountColumn(
        "portfolio", "Portfolio", fields=("portfolio__name",), sql="p.name", joins=("p",),
        grid=Grid(sort=("portfolio__name",), accessor="portfolio__name", prefetch="portfolio",
                  default=True),
    ),
    AccountColumn(
        "account_number", "Account", fields=("account_number",), sql="a.account_number",
        mask=mask_account_number, mask_sql=mask_account_number_sql, mask_never_formula=True,
        grid=Grid(sort=("account_number",), cell=_account_number_cell, default=True),
    ),
    AccountColumn(
        "debtor", "Debtor", fields=("debtor__first_name", "debtor__last_name"),
        get=lambda row, c: full_name(row["debtor__first_name"], row["debtor__last_name"]),
        sql=full_name_sql("d.first_name", "d.last_name"), joins=("d",),
        mask=mask_name, mask_sql=mask_name_sql,
        masked_sql=mask_full_name_sql("d.first_name", "d.last_name"),
        grid=Grid(sort=("debtor__last_name", "debtor__first_name"), cell=_debtor_cell,
                  always=True, join="debtor", default=True),
    ),
    AccountColumn(
        "status", "Status", fields=("status__name",), sql="s.name", joins=("s",),
        grid=Grid(sort=("status__sort_order",), accessor="status__name", prefetch="status",
                  default=True),
    ),
    AccountColumn(
        "current_balance", "Current Balance", kind=MONEY, fields=("current_balance",),
        sql="a.current_balance::text",
        grid=Grid(sort=("current_balance",), cell=_money_cell, css="money", header_css="money",
                  default=True),
    ),
    AccountColumn(
        "assigned_to", "Assigned To",
        fields=("assigned_to__first_name", "assigned_to__last_name", "assigned_to__username"),
        get=_assigned_to, sql=_assigned_to_sql, joins=("u",),
        grid=Grid(sort=("assigned_to__last_name", "assigned_to__first_name"), cell=_text_cell,
                  prefetch="assigned_to", default=True),
    ),
    AccountColumn(
        "creditor", "Creditor", fields=("creditor__name",), sql="cr.name", joins=("cr",),
        grid=Grid(sort=("creditor__name",), accessor="creditor__name", prefetch="creditor"),
    ),
    AccountColumn(
        "last_worked_at", "Last Worked", kind=DATETIME, fields=("last_worked_at",),
        sql=_last_worked_sql,
        grid=Grid(sort=("last_worked_at",), cell=_datetime_cell),
    ),
    AccountColumn(
        "last_payment_amount", "Last Payment Amount", kind=MONEY, fields=("last_payment_amount",),
        sql="a.last_payment_amount::text",
        grid=Grid(sort=("last_payment_amount",), cell=_money_cell, css="money", header_css="money"),
    ),
    AccountColumn(
        "last_payment_date", "Last Payment Date", kind=DATE, fields=("last_payment_date",),
        sql=date_text("a.last_payment_date"),
        grid=Grid(sort=("last_payment_date",), cell=_date_cell),
    ),
    AccountColumn(
        "state", "State", fields=("debtor__state",),
        get=lambda row, c: STATE_NAMES.get(row["debtor__state"], row["debtor__state"]),
        sql=choice_labels("d.state", STATE_CHOICES, otherwise="d.state"), joins=("d",),
        grid=Grid(sort=("debtor__state",), accessor="debtor__state", cell=_state_cell,
                  join="debtor"),
    ),
    AccountColumn(
        "declined_count", "Declined Transactions", kind=INTEGER, fields=("declined_count",),
        sql="a.declined_count::text",
        grid=Grid(sort=("declined_count",), css="money"),
    ),
    AccountColumn(
        "stage", "Stage", fields=("stage",),
        get=lambda row, c: Account.Stage(row["stage"]).label if row["stage"] else "",
        sql=choice_labels("a.stage", Account.Stage.choices, otherwise="NULL"),
        grid=Grid(sort=("stage",), cell=_stage_cell),
    ),
    AccountColumn(
        "flags", "Flags", lookup=FLAGS, get=lambda row, c: ", ".join(c["flags"].get(row["pk"], ())),
        sql=_flags_sql,
        grid=Grid(cell=_flags_cell, always=True, prefetch="flags"),
    ),
    AccountColumn(
        "days_since_default", "Days Since Default", kind=INTEGER, fields=("default_date",),
        get=_days_since_default, sql=_days_since_default_sql,
        grid=Grid(sort=("-default_date",), accessor="default_date", cell=_days_since_cell),
    ),
    AccountColumn(
        "office", "Office", fields=("office__name",), sql="o.name", joins=("o",),
        grid=Grid(sort=("office__name",), accessor="office__name", prefetch="office"),
    ),
    # Export only: contact details and the postal address.
    AccountColumn(
        "email", "Email", annotation=lambda: _primary(DebtorEmail, "address"),
        sql="em.address", joins=("em",), mask=mask_email, mask_sql=mask_email_sql,
    ),
    AccountColumn(
        "phone", "Phone", annotation=lambda: _primary(DebtorPhone, "number"),
        sql="ph.number", joins=("ph",), mask=mask_phone, mask_sql=mask_phone_sql,
        mask_never_formula=True,
    ),
    _address("address_line1", "Address Line 1"),
    _address("address_line2", "Address Line 2"),
    _address("city", "City"),
    _address("postal_code", "Postal Code"),
    _address("country", "Country"),
]
# fmt: on

# The grid's columns, and those it shows to whoever has not chosen theirs.
GRID_COLUMNS = [c.key for c in COLUMNS if c.grid is not None]
DEFAULT_COLUMNS = [c.key for c in COLUMNS if c.grid is not None and c.grid.default]


def register_columns(*columns: AccountColumn) -> None:
    """Add export columns of another app's data (billing's claims summary),
    after the accounts app's own and before the custom fields. They are
    export only: the grid's page query reads the accounts app's tables."""
    known = {c.key: c for c in COLUMNS}
    for column in columns:
        if column.grid is not None:
            raise ValueError(f"The column {column.key!r} of another app cannot be a grid column.")
        if column.key.startswith(CUSTOM_PREFIX) or known.get(column.key, column) != column:
            raise ValueError(f"Two account columns share the key {column.key!r}.")
        if column.key not in known:
            COLUMNS.append(column)
            known[column.key] = column


def register_grid_columns(*columns: AccountColumn) -> None:
    """Add grid columns of another app's data (billing's Balance as of),
    after the accounts app's own: offered by the column chooser and saved
    lists, not sortable, each an annotation of the page query
    (``Grid.annotate``), so the grid takes no query more for it. They are
    not export columns: an export's rows are read by one ``COPY`` over the
    accounts app's tables."""
    for column in columns:
        grid = column.grid
        if grid is None or grid.annotate is None or grid.sort or grid.join or grid.prefetch:
            raise ValueError(
                f"The grid column {column.key!r} of another app is an annotation of the "
                "page query (Grid.annotate), and neither sorts nor joins."
            )
        if column.key in GRID_COLUMNS or column.key.startswith(CUSTOM_PREFIX):
            raise ValueError(f"Two account columns share the key {column.key!r}.")
        _OTHER_GRID_COLUMNS.append(column)
        GRID_COLUMNS.append(column.key)  # in place: the modules holding it see the column


_OTHER_GRID_COLUMNS: list[AccountColumn] = []


# --- custom fields: one column each -------------------------------------------------------

CUSTOM_KINDS = {CustomField.FieldType.NUMBER: NUMBER, CustomField.FieldType.DATE: DATE}


def custom_column(custom_field: CustomField) -> AccountColumn:
    field_id = custom_field.pk
    return AccountColumn(
        key=f"{CUSTOM_PREFIX}{custom_field.key}",
        label=custom_field.name,
        kind=CUSTOM_KINDS.get(custom_field.field_type, TEXT),
        lookup=CUSTOM_VALUES,
        get=lambda row, c: c["custom"].get((row["pk"], field_id), ""),
        sql=(
            f"(SELECT v.value FROM {quote_table(CustomFieldValue)} v "
            f"WHERE v.account_id = a.id AND v.field_id = {int(field_id)})"
        ),
        # Stored as typed: a number or a date may be anything.
        typed_sql=False,
        custom_field_id=field_id,
    )


def grid_columns() -> list[AccountColumn]:
    """The columns the grid can show, in order."""
    return [c for c in COLUMNS if c.grid is not None] + _OTHER_GRID_COLUMNS
