"""CSV exports on PostgreSQL: one chunk's rows as ONE ``COPY ... TO STDOUT``.

The database formats, masks and escapes every cell exactly as the Python
writer of ``bulkops.exports`` does (same values, same masks, same formula
neutralising, same quoting), so the file is byte for byte the same whichever
path made it; ``tests/bulkops/test_export_copy.py`` holds them to that on
every column. Python then only moves bytes: the part file is written at the
speed of ``COPY`` itself.

Two differences of PostgreSQL's CSV are evened out here: an empty value is
sent as NULL (``COPY`` would quote an empty string), and rows end in CRLF as
Python's ``csv`` writes them (``COPY`` ends them in LF) by ``to_crlf``, which
leaves a line break inside a quoted cell alone.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection

from accounts.models import (
    Account,
    AccountFlag,
    AccountStatus,
    Client,
    Creditor,
    CustomFieldValue,
    Debtor,
    DebtorEmail,
    DebtorPhone,
    Flag,
    Office,
    Portfolio,
    User,
)
from accounts.states import STATE_CHOICES
from billing.models import Claim
from bulkops.exports import NUMERIC_KINDS, TEXT


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _literal(value: str) -> str:
    """A string constant for SQL text we build (never user input as code)."""
    return "'" + value.replace("'", "''") + "'"


# What Python's str.split() and str.strip() take for whitespace (every
# character for which str.isspace() is true), so names split and strip alike.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
WHITESPACE = _literal(PYTHON_WHITESPACE)


def _strip(x: str) -> str:
    return f"btrim({x}, {WHITESPACE})"


# --- masks, as accounts.masking ------------------------------------------------------------


def mask_account_number(x: str) -> str:
    return f"CASE WHEN coalesce({x}, '') = '' THEN NULL ELSE '****' || right({x}, 4) END"


def mask_email(x: str) -> str:
    return (
        f"CASE WHEN coalesce({x}, '') = '' THEN NULL WHEN strpos({x}, '@') = 0 THEN '***' "
        f"ELSE left(left({x}, strpos({x}, '@') - 1), 1) || '***@' "
        f"|| substr({x}, strpos({x}, '@') + 1) END"
    )


def mask_phone(x: str) -> str:
    return (
        f"CASE WHEN coalesce({x}, '') = '' THEN NULL "
        f"ELSE '***-***-' || right(regexp_replace({x}, '[^0-9]', '', 'g'), 4) END"
    )


def mask_name(x: str) -> str:
    """Each word's first character and a dot, one space apart: "M. L."."""
    space = "[" + PYTHON_WHITESPACE + "]"
    word = f"([^{PYTHON_WHITESPACE}])[^{PYTHON_WHITESPACE}]*{space}*"
    return (
        f"CASE WHEN coalesce({x}, '') = '' THEN NULL ELSE rtrim(regexp_replace("
        f"{_strip(x)}, {_literal(word)}, '\\1. ', 'g'), ' ') END"
    )


MASKS: dict[str, Callable[[str], str]] = {
    "account_number": mask_account_number,
    "debtor": mask_name,
    "email": mask_email,
    "phone": mask_phone,
}

# --- the columns ------------------------------------------------------------------------------


def _person(first: str, last: str) -> str:
    """As bulkops.exports._person: "first last", stripped."""
    return _strip(f"coalesce({first}, '') || ' ' || coalesce({last}, '')")


def _money(x: str) -> str:
    return f"round({x}, 2)::text"


def _date(x: str) -> str:
    return f"to_char({x}, 'YYYY-MM-DD')"


def _state_names() -> str:
    whens = " ".join(f"WHEN {_literal(code)} THEN {_literal(name)}" for code, name in STATE_CHOICES)
    return f"CASE d.state {whens} ELSE d.state END"


def _stage_labels() -> str:
    whens = " ".join(
        f"WHEN {_literal(value)} THEN {_literal(str(label))}"
        for value, label in Account.Stage.choices
    )
    return f"CASE a.stage {whens} ELSE NULL END"


def _expressions(today: dt.date) -> dict[str, str]:
    """Each grid and extra column as an SQL expression of text over the
    aliases the FROM clause of ``copy_statement`` defines."""
    return {
        "file_number": "a.file_number",
        "client": "c.name",
        "portfolio": "p.name",
        "account_number": "a.account_number",
        "debtor": _person("d.first_name", "d.last_name"),
        "status": "s.name",
        "current_balance": _money("a.current_balance"),
        "assigned_to": (
            "CASE WHEN u.id IS NULL THEN NULL "
            f"WHEN {_person('u.first_name', 'u.last_name')} = '' THEN u.username "
            f"ELSE {_person('u.first_name', 'u.last_name')} END"
        ),
        "creditor": "cr.name",
        "last_worked_at": (
            f"to_char(a.last_worked_at AT TIME ZONE {_literal(settings.TIME_ZONE)}, "
            "'YYYY-MM-DD HH24:MI')"
        ),
        "last_payment_amount": _money("a.last_payment_amount"),
        "last_payment_date": _date("a.last_payment_date"),
        "state": _state_names(),
        "declined_count": "a.declined_count::text",
        "stage": _stage_labels(),
        "flags": (
            "(SELECT string_agg(f.name, ', ' ORDER BY f.name) "
            f"FROM {_t(AccountFlag)} af JOIN {_t(Flag)} f ON f.id = af.flag_id "
            "WHERE af.account_id = a.id)"
        ),
        "days_since_default": f"({_literal(today.isoformat())}::date - a.default_date)::text",
        "office": "o.name",
        "email": "em.address",
        "phone": "ph.number",
        "address_line1": "d.address_line1",
        "address_line2": "d.address_line2",
        "city": "d.city",
        "postal_code": "d.postal_code",
        "country": "d.country",
        "claims_count": f"(SELECT count(*) FROM {_t(Claim)} cl WHERE cl.account_id = a.id)::text",
        "claims_balance": _money(
            f"coalesce((SELECT sum(cl.balance) FROM {_t(Claim)} cl WHERE cl.account_id = a.id), 0)"
        ),
    }


def _custom(field_id: int) -> str:
    return (
        f"(SELECT v.value FROM {_t(CustomFieldValue)} v "
        f"WHERE v.account_id = a.id AND v.field_id = {int(field_id)})"
    )


FORMULA_START = "('=', '+', '-', '@', E'\\t', E'\\r')"
PLAIN_NUMBER = "'^-?[0-9]+(\\.[0-9]+)?$'"


def _csv_cell(x: str, kind: str, *, alone: bool, from_database: bool) -> str:
    """As bulkops.exports.csv_cell: a quote before what a spreadsheet would run
    as a formula (a plain number of a numeric column never is one). Empty is
    NULL, which COPY leaves unquoted as Python does, except in a row of one
    cell, where Python writes "" (so that the row is not a blank line).
    Numbers and dates the database formats itself need no check at all."""
    if from_database:
        escape = x
    else:
        escape = f"CASE WHEN left({x}, 1) IN {FORMULA_START} THEN '''' || {x} ELSE {x} END"
        if kind in NUMERIC_KINDS:
            escape = f"CASE WHEN {x} ~ {PLAIN_NUMBER} THEN {x} ELSE {escape} END"
        escape = f"NULLIF({escape}, '')"
    return f"coalesce({escape}, '')" if alone else escape


def visibility_condition(queryset) -> tuple[str | None, list]:
    """The WHERE condition of an accounts queryset (``accounts_visible_to``)
    over the alias ``a`` of ``copy_statement``: "" for every account, None
    for none."""
    query = queryset.query
    compiler = query.get_compiler(connection=connection)
    try:
        sql, params = compiler.compile(query.where)
    except EmptyResultSet:
        return None, []
    except FullResultSet:
        return "", []
    # Django names the outer table in full; subqueries use their own aliases.
    return sql.replace(f"{_t(Account)}.", "a."), list(params)


def copy_statement(
    columns: Iterable[tuple], account_ids: list[int], *, today: dt.date, condition: str = ""
) -> str:
    """The COPY statement for these accounts, in account order, with
    ``columns`` as (Column, mask) pairs of ``bulkops.exports`` and an optional
    extra ``condition`` on ``a`` (already rendered, no parameters left)."""
    expressions = _expressions(today)
    columns = list(columns)
    inner, outer = ["a.id AS id"], []
    for index, (column, mask) in enumerate(columns):
        if column.custom_field_id is not None:
            value = _custom(column.custom_field_id)
        else:
            value = expressions[column.key]
        kind = column.kind
        if mask:
            value, kind = MASKS[column.key](f"({value})"), TEXT
        inner.append(f"{value} AS v{index}")
        # Every number and date but a custom field's (stored as typed) is
        # formatted by the database, so it is never a formula.
        from_database = kind != TEXT and column.custom_field_id is None
        outer.append(
            _csv_cell(f"t.v{index}", kind, alone=len(columns) == 1, from_database=from_database)
        )
    ids = ",".join(str(int(i)) for i in account_ids)
    primary = (
        "SELECT {col} FROM {table} x WHERE x.debtor_id = a.debtor_id AND x.is_primary "
        "ORDER BY x.id LIMIT 1"
    )
    # The range lets the planner read just the chunk's part of the primary key.
    low, high = (min(account_ids), max(account_ids)) if account_ids else (0, -1)
    where = f"a.id BETWEEN {int(low)} AND {int(high)} AND a.id = ANY('{{{ids}}}'::bigint[])"
    if condition:
        where += f" AND ({condition})"
    return (
        f"COPY (SELECT {', '.join(outer)} FROM ("
        f"SELECT {', '.join(inner)} FROM {_t(Account)} a "
        f"JOIN {_t(Client)} c ON c.id = a.client_id "
        f"JOIN {_t(Portfolio)} p ON p.id = a.portfolio_id "
        f"JOIN {_t(Debtor)} d ON d.id = a.debtor_id "
        f"JOIN {_t(AccountStatus)} s ON s.id = a.status_id "
        f"LEFT JOIN {_t(User)} u ON u.id = a.assigned_to_id "
        f"LEFT JOIN {_t(Creditor)} cr ON cr.id = a.creditor_id "
        f"LEFT JOIN {_t(Office)} o ON o.id = a.office_id "
        f"LEFT JOIN LATERAL ({primary.format(col='x.address', table=_t(DebtorEmail))}) "
        "em(address) ON true "
        f"LEFT JOIN LATERAL ({primary.format(col='x.number', table=_t(DebtorPhone))}) "
        "ph(number) ON true "
        f"WHERE {where} OFFSET 0) t ORDER BY t.id"
        ") TO STDOUT WITH (FORMAT csv)"
    )


def to_crlf(data: bytes) -> bytes:
    """COPY's LF row ends as CRLF; a line break inside a quoted cell (an odd
    number of quotes so far in the row) stays as it is."""
    if b'"' not in data:  # no quoted cell, so every LF ends a row
        return data.replace(b"\n", b"\r\n")
    lines = data.split(b"\n")
    out, inside = [], False
    for line in lines[:-1]:
        if line.count(b'"') % 2:
            inside = not inside
        out.append(line + (b"\n" if inside else b"\r\n"))
    out.append(lines[-1])
    return b"".join(out)


def copy_rows(
    columns, account_ids: list[int], *, today: dt.date, visible_to=None
) -> tuple[bytes, int]:
    """The CSV rows (no header, no BOM) of those of ``account_ids`` that the
    queryset ``visible_to`` holds (all if None), and how many rows that is."""
    condition = ""
    with connection.cursor() as cursor:
        if visible_to is not None:
            condition, params = visibility_condition(visible_to)
            if condition is None:
                return b"", 0
            if params:
                condition = cursor.mogrify(condition, params).decode()
        if not connection.get_autocommit():
            # A chunk's statement is too short for JIT compilation to pay off.
            cursor.execute("SET LOCAL jit = off")
            # Room to sort a chunk's rows in memory rather than on disk.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        buffer = io.BytesIO()
        cursor.cursor.copy_expert(
            copy_statement(columns, account_ids, today=today, condition=condition), buffer
        )
        rows = cursor.cursor.rowcount
    return to_crlf(buffer.getvalue()), rows
