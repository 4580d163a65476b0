"""CSV exports on PostgreSQL: a chunk's rows made by ``COPY ... TO STDOUT``.

The database formats, masks and escapes every cell exactly as the Python
writer of ``bulkops.exports`` does (same values, same masks, same formula
neutralising, same quoting), so the file is byte for byte the same whichever
path made it; ``tests/bulkops/test_export_copy.py`` holds them to that on
every column. Python then only moves bytes: the part file is written at the
speed of ``COPY`` itself. A long chunk is copied as two halves at once, on
two connections (PostgreSQL runs one statement on one core).

Two differences of PostgreSQL's CSV are evened out here: an empty value is
sent as NULL (``COPY`` would quote an empty string), and rows end in CRLF as
Python's ``csv`` writes them (``COPY`` ends them in LF) by ``to_crlf``, which
leaves a line break inside a quoted cell alone.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection, transaction

from accounts.masking import (
    full_name_sql,
    mask_account_number_sql,
    mask_email_sql,
    mask_full_name_sql,
    mask_name_sql,
    mask_phone_sql,
)
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


# The masks, as accounts.masking's SQL twins of its Python masks.
MASKS: dict[str, Callable[[str], str]] = {
    "account_number": mask_account_number_sql,
    "debtor": mask_name_sql,
    "email": mask_email_sql,
    "phone": mask_phone_sql,
}
# Columns whose mask has a cheaper form over the columns they are made of.
MASKED_EXPRESSIONS: dict[str, str] = {
    "debtor": mask_full_name_sql("d.first_name", "d.last_name"),
}
# Masks whose every value starts with "*": never a formula, nothing to escape.
STAR_MASKS = {"account_number", "phone"}

# --- the columns ------------------------------------------------------------------------------


def _money(x: str) -> str:
    """An amount computed in SQL (a sum, a coalesce) with two decimals. A
    money column is numeric(14, 2) and prints with two decimals as it is."""
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
    aliases of ``JOINS`` (``a`` is the account)."""
    return {
        "file_number": "a.file_number",
        "client": "c.name",
        "portfolio": "p.name",
        "account_number": "a.account_number",
        "debtor": full_name_sql("d.first_name", "d.last_name"),
        "status": "s.name",
        "current_balance": "a.current_balance::text",
        "assigned_to": (
            "CASE WHEN u.id IS NULL THEN NULL "
            f"WHEN {full_name_sql('u.first_name', 'u.last_name')} = '' THEN u.username "
            f"ELSE {full_name_sql('u.first_name', 'u.last_name')} END"
        ),
        "creditor": "cr.name",
        "last_worked_at": (
            f"to_char(a.last_worked_at AT TIME ZONE {_literal(settings.TIME_ZONE)}, "
            "'YYYY-MM-DD HH24:MI')"
        ),
        "last_payment_amount": "a.last_payment_amount::text",
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


def _primary(alias: str, model) -> str:
    """The debtor's primary email or phone: at most one, by the table's
    partial unique constraint, so a plain join returns one row at most."""
    return (
        f"LEFT JOIN {_t(model)} {alias} ON {alias}.debtor_id = a.debtor_id "
        f"AND {alias}.is_primary AND {alias}.debtor_id BETWEEN {{debtors}}"
    )


# The tables an export may read besides the account, by alias, in join order.
# An account's client, portfolio, debtor and status are never null.
#
# The joins on the debtor are bounded by the chunk's range of debtor ids
# ({debtors}: ``_debtor_range``, read before the statement). Accounts and
# their debtors are mostly created together, so the range is about as narrow
# as the chunk, and PostgreSQL reads it as a range of each table's index and
# joins by hash, instead of one index lookup per account (or a scan of every
# debtor per chunk). A wide range is slower, never wrong.
JOINS: dict[str, str] = {
    "c": f"JOIN {_t(Client)} c ON c.id = a.client_id",
    "p": f"JOIN {_t(Portfolio)} p ON p.id = a.portfolio_id",
    "d": f"JOIN {_t(Debtor)} d ON d.id = a.debtor_id AND d.id BETWEEN {{debtors}}",
    "s": f"JOIN {_t(AccountStatus)} s ON s.id = a.status_id",
    "u": f"LEFT JOIN {_t(User)} u ON u.id = a.assigned_to_id",
    "cr": f"LEFT JOIN {_t(Creditor)} cr ON cr.id = a.creditor_id",
    "o": f"LEFT JOIN {_t(Office)} o ON o.id = a.office_id",
    "em": _primary("em", DebtorEmail),
    "ph": _primary("ph", DebtorPhone),
}
# Which of them a column reads: an export joins only what its columns need.
COLUMN_JOINS: dict[str, str] = {
    "client": "c",
    "portfolio": "p",
    "debtor": "d",
    "status": "s",
    "assigned_to": "u",
    "creditor": "cr",
    "state": "d",
    "office": "o",
    "email": "em",
    "phone": "ph",
    "address_line1": "d",
    "address_line2": "d",
    "city": "d",
    "postal_code": "d",
    "country": "d",
}


def _custom(field_id: int) -> str:
    return (
        f"(SELECT v.value FROM {_t(CustomFieldValue)} v "
        f"WHERE v.account_id = a.id AND v.field_id = {int(field_id)})"
    )


# What starts a formula (= + - @ TAB CR), as code points for ascii().
FORMULA_START = "(61, 43, 45, 64, 9, 13)"
PLAIN_NUMBER = "'^-?[0-9]+(\\.[0-9]+)?$'"


def _csv_cell(x: str, kind: str, *, alone: bool, escape: bool) -> str:
    """As bulkops.exports.csv_cell: a quote before what a spreadsheet would run
    as a formula (a plain number of a numeric column never is one). Empty is
    NULL, which COPY leaves unquoted as Python does, except in a row of one
    cell, where Python writes "" (so that the row is not a blank line).
    Values that cannot start a formula (numbers and dates the database
    formats itself, masks that start with "*") are not checked."""
    cell = x
    if escape:
        cell = f"CASE WHEN ascii({x}) IN {FORMULA_START} THEN '''' || {x} ELSE {x} END"
        if kind in NUMERIC_KINDS:
            cell = f"CASE WHEN {x} ~ {PLAIN_NUMBER} THEN {x} ELSE {cell} END"
    cell = f"NULLIF({cell}, '')"
    return f"coalesce({cell}, '')" if alone else cell


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


def _id_array(ids: Iterable[int]) -> str:
    return "'{" + ",".join(str(int(i)) for i in ids) + "}'::bigint[]"


def _id_condition(account_ids: list[int], alias: str = "a") -> str:
    """Which accounts, over ``alias``. A chunk that fills most of its range of
    ids (every chunk of a "select all" does) is read as that range of the
    primary key less the few ids it skips; a sparse one as its list of ids,
    which PostgreSQL looks up one by one."""
    if not account_ids:
        return "false"
    low, high = min(account_ids), max(account_ids)
    if high - low + 1 - len(account_ids) > len(account_ids) // 4:
        return f"{alias}.id = ANY({_id_array(account_ids)})"
    present = set(account_ids)
    missing = [i for i in range(low, high + 1) if i not in present]
    condition = f"{alias}.id BETWEEN {int(low)} AND {int(high)}"
    if missing:
        condition += f" AND {alias}.id <> ALL({_id_array(missing)})"
    return condition


DEBTOR_JOINS = {"d", "em", "ph"}


def _debtor_range(account_ids: list[int]) -> tuple[int, int]:
    """The lowest and highest debtor id of these accounts, as numbers the
    planner sees (the subquery keeps PostgreSQL from answering min and max by
    walking the debtor index, which is slower than reading the chunk)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT min(x.debtor_id), max(x.debtor_id) FROM (SELECT a.debtor_id FROM "
            f"{_t(Account)} a WHERE {_id_condition(account_ids)} OFFSET 0) x"
        )
        low, high = cursor.fetchone()
    return (low, high) if low is not None else (0, -1)


def copy_statement(
    columns: Iterable[tuple], account_ids: list[int], *, today: dt.date, condition: str = ""
) -> str:
    """The COPY statement for these accounts, in account order, with
    ``columns`` as (Column, mask) pairs of ``bulkops.exports`` and an optional
    extra ``condition`` on ``a`` (already rendered, no parameters left)."""
    expressions = _expressions(today)
    columns = list(columns)
    inner, outer, aliases = ["a.id AS id"], [], set()
    for index, (column, mask) in enumerate(columns):
        custom = column.custom_field_id is not None
        value = _custom(column.custom_field_id) if custom else expressions[column.key]
        if not custom and column.key in COLUMN_JOINS:
            aliases.add(COLUMN_JOINS[column.key])
        kind, escape = column.kind, True
        if mask:
            value = MASKED_EXPRESSIONS.get(column.key) or MASKS[column.key](f"({value})")
            kind, escape = TEXT, column.key not in STAR_MASKS
        elif kind != TEXT and not custom:
            # Every number and date but a custom field's (stored as typed) is
            # formatted by the database, so it is never a formula.
            escape = False
        inner.append(f"{value} AS v{index}")
        outer.append(_csv_cell(f"t.v{index}", kind, alone=len(columns) == 1, escape=escape))
    where = _id_condition(account_ids)
    low, high = _debtor_range(account_ids) if aliases & DEBTOR_JOINS else (0, -1)
    joins = "".join(
        f" {sql.format(debtors=f'{int(low)} AND {int(high)}')}"
        for alias, sql in JOINS.items()
        if alias in aliases
    )
    if condition:
        where += f" AND ({condition})"
    return (
        f"COPY (SELECT {', '.join(outer)} FROM ("
        f"SELECT {', '.join(inner)} FROM {_t(Account)} a{joins} "
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


# A chunk at least this long is copied as two halves at once, on two
# connections: PostgreSQL runs a statement on one core, the machine has more.
SPLIT_ROWS = 10_000


def _copy(statement: str) -> tuple[bytes, int]:
    """One COPY on this thread's connection: its bytes and row count."""
    with connection.cursor() as cursor:
        if not connection.get_autocommit():
            # A chunk's statement is too short for JIT compilation to pay off,
            # and the chunk is split across connections here, not across
            # PostgreSQL's parallel workers (whose plans scan the whole table).
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            # Room to sort a chunk's rows in memory rather than on disk.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        buffer = io.BytesIO()
        cursor.cursor.copy_expert(statement, buffer)
        return buffer.getvalue(), cursor.cursor.rowcount


def _copy_on_own_connection(statement: str) -> tuple[bytes, int]:
    """``_copy`` in a helper thread, whose connection is its own (read
    committed, as the chunk's: an export reads what is committed)."""
    try:
        with transaction.atomic():
            return _copy(statement)
    finally:
        connection.close()


def copy_rows(
    columns, account_ids: list[int], *, today: dt.date, visible_to=None
) -> tuple[bytes, int]:
    """The CSV rows (no header, no BOM) of those of ``account_ids`` that the
    queryset ``visible_to`` holds (all if None), and how many rows that is."""
    condition = ""
    if visible_to is not None:
        condition, params = visibility_condition(visible_to)
        if condition is None:
            return b"", 0
        if params:
            with connection.cursor() as cursor:
                condition = cursor.mogrify(condition, params).decode()
    account_ids = sorted(account_ids)
    halves = [account_ids]
    if len(account_ids) >= SPLIT_ROWS and not connection.get_autocommit():
        middle = len(account_ids) // 2
        halves = [account_ids[:middle], account_ids[middle:]]
    statements = [
        copy_statement(columns, half, today=today, condition=condition) for half in halves
    ]
    if len(statements) == 1:
        data, rows = _copy(statements[0])
        return to_crlf(data), rows
    with ThreadPoolExecutor(max_workers=1) as pool:
        second = pool.submit(_copy_on_own_connection, statements[1])
        first_data, first_rows = _copy(statements[0])
        second_data, second_rows = second.result()
    return to_crlf(first_data + second_data), first_rows + second_rows
