"""CSV exports on PostgreSQL: a chunk's rows made by ``COPY ... TO STDOUT``.

The database formats, masks and escapes every cell exactly as the Python
writer does (``Catalogue.rows`` and ``cells.csv_cell``: same values, same
masks, same formula neutralising, same quoting), so the file is byte for
byte the same whichever path made it; ``tests/bulkops/test_export_copy.py``
holds them to that on every column of the accounts catalogue. Python then
only moves bytes: the part file is written at the speed of ``COPY`` itself.
A long chunk is copied as two halves at once, on two connections
(PostgreSQL runs one statement on one core).

Two differences of PostgreSQL's CSV are evened out here: an empty value is
sent as NULL (``COPY`` would quote an empty string), and rows end in CRLF as
Python's ``csv`` writes them (``COPY`` ends them in LF) by ``to_crlf``, which
leaves a line break inside a quoted cell alone.

Also here, the small SQL helpers the catalogues' expressions are made with.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection, transaction

from bulkops.exports.cells import NUMERIC_KINDS, TEXT

if TYPE_CHECKING:
    from bulkops.exports.columns import Catalogue, Column

# --- SQL the catalogues' expressions are made of --------------------------------------------


def quote_table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def literal(value: str) -> str:
    """A string constant for SQL text we build (never user input as code)."""
    return "'" + value.replace("'", "''") + "'"


def money_text(x: str) -> str:
    """An amount computed in SQL (a sum, a coalesce) with two decimals. A
    money column is numeric(14, 2) and prints with two decimals as it is."""
    return f"round({x}, 2)::text"


def date_text(x: str) -> str:
    return f"to_char({x}, 'YYYY-MM-DD')"


def choice_labels(x: str, choices: Iterable[tuple[str, str]], *, otherwise: str) -> str:
    """``x`` as the label of its choice, else ``otherwise`` (SQL)."""
    whens = " ".join(
        f"WHEN {literal(value)} THEN {literal(str(label))}" for value, label in choices
    )
    return f"CASE {x} {whens} ELSE {otherwise} END"


# --- the statement ----------------------------------------------------------------------------

# What starts a formula (= + - @ TAB CR), as code points for ascii().
FORMULA_START = "(61, 43, 45, 64, 9, 13)"
PLAIN_NUMBER = "'^-?[0-9]+(\\.[0-9]+)?$'"


def _csv_cell(x: str, kind: str, *, alone: bool, escape: bool) -> str:
    """As cells.csv_cell: a quote before what a spreadsheet would run as a
    formula (a plain number of a numeric column never is one). Empty is
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


def visibility_condition(catalogue: Catalogue, queryset) -> tuple[str | None, list]:
    """The WHERE condition of a queryset of the catalogue's rows (what a user
    may see) over the alias of ``copy_statement``: "" for every row, None
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
    return sql.replace(f"{quote_table(catalogue.model)}.", f"{catalogue.alias}."), list(params)


def _id_array(ids: Iterable[int]) -> str:
    return "'{" + ",".join(str(int(i)) for i in ids) + "}'::bigint[]"


def id_condition(ids: list[int], alias: str = "a") -> str:
    """Which rows, over ``alias``. A chunk that fills most of its range of
    ids (every chunk of a "select all" does) is read as that range of the
    primary key less the few ids it skips; a sparse one as its list of ids,
    which PostgreSQL looks up one by one."""
    if not ids:
        return "false"
    low, high = min(ids), max(ids)
    if high - low + 1 - len(ids) > len(ids) // 4:
        return f"{alias}.id = ANY({_id_array(ids)})"
    present = set(ids)
    missing = [i for i in range(low, high + 1) if i not in present]
    condition = f"{alias}.id BETWEEN {int(low)} AND {int(high)}"
    if missing:
        condition += f" AND {alias}.id <> ALL({_id_array(missing)})"
    return condition


def copy_statement(
    catalogue: Catalogue,
    columns: Iterable[tuple[Column, bool]],
    ids: list[int],
    *,
    today: dt.date,
    condition: str = "",
) -> str:
    """The COPY statement for these rows, in id order, with ``columns`` as
    (Column, mask) pairs and an optional extra ``condition`` on the rows
    (already rendered, no parameters left). It joins only the tables its
    columns read."""
    alias = catalogue.alias
    columns = list(columns)
    inner, outer, aliases = [f"{alias}.id AS id"], [], set()
    for index, (column, mask) in enumerate(columns):
        value = column.sql_for(today)
        aliases.update(column.joins)
        kind, escape = column.kind, True
        if mask:
            value = column.masked_sql or column.mask_sql(f"({value})")
            kind, escape = TEXT, not column.mask_never_formula
        elif kind != TEXT and column.typed_sql:
            # A number or date the database formats is never a formula.
            escape = False
        inner.append(f"{value} AS v{index}")
        outer.append(_csv_cell(f"t.v{index}", kind, alone=len(columns) == 1, escape=escape))
    where = id_condition(ids, alias)
    bounds = catalogue.join_bounds(ids, aliases)
    joins = "".join(
        f" {sql.format(**bounds)}" for name, sql in catalogue.joins().items() if name in aliases
    )
    if condition:
        where += f" AND ({condition})"
    return (
        f"COPY (SELECT {', '.join(outer)} FROM ("
        f"SELECT {', '.join(inner)} FROM {quote_table(catalogue.model)} {alias}{joins} "
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


# --- running it -----------------------------------------------------------------------------

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
    catalogue: Catalogue,
    columns: list[tuple[Column, bool]],
    ids: list[int],
    *,
    today: dt.date,
    visible_to=None,
) -> tuple[bytes, int]:
    """The CSV rows (no header, no BOM) of those of ``ids`` that the
    queryset ``visible_to`` holds (all if None), and how many rows that is."""
    condition = ""
    if visible_to is not None:
        condition, params = visibility_condition(catalogue, visible_to)
        if condition is None:
            return b"", 0
        if params:
            with connection.cursor() as cursor:
                condition = cursor.mogrify(condition, params).decode()
    ids = sorted(ids)
    halves = [ids]
    if len(ids) >= SPLIT_ROWS and not connection.get_autocommit():
        middle = len(ids) // 2
        halves = [ids[:middle], ids[middle:]]
    statements = [
        copy_statement(catalogue, columns, half, today=today, condition=condition)
        for half in halves
    ]
    if len(statements) == 1:
        data, rows = _copy(statements[0])
        return to_crlf(data), rows
    with ThreadPoolExecutor(max_workers=1) as pool:
        second = pool.submit(_copy_on_own_connection, statements[1])
        first_data, first_rows = _copy(statements[0])
        second_data, second_rows = second.result()
    return to_crlf(first_data + second_data), first_rows + second_rows
