"""Writes the generated chunks into the bulk tables, in the caller's transaction.

On PostgreSQL: COPY from a background thread while the main thread generates
the next chunk, with the bulk tables' secondary indexes and constraints
dropped first and rebuilt at the end (one sort per index instead of millions
of incremental inserts and deferred foreign-key triggers; a failure rolls
the DDL back too). On SQLite: batched INSERTs."""

from __future__ import annotations

import datetime as dt
import io
import queue
import threading
import time
from collections.abc import Callable, Iterable

from django.core.management.color import no_style
from django.db import connection

from demo.rows import BULK_TABLES

Chunks = Iterable[tuple[int, dict[type, list[tuple]]]]


def write_chunks(chunks: Chunks, *, progress: Callable[[str], None], started: float) -> None:
    """Every chunk's rows, then the tables' id sequences moved past them."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _write_postgres(cursor, chunks, progress, started)
        else:
            _write_sqlite(cursor, chunks, progress, started)
        for statement in connection.ops.sequence_reset_sql(
            no_style(), [model for model, _ in BULK_TABLES]
        ):
            cursor.execute(statement)


def analyze() -> None:
    """Fresh planner statistics for the bulk tables (after the commit)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model, _ in BULK_TABLES:
                cursor.execute(f"ANALYZE {model._meta.db_table}")


def _write_postgres(cursor, chunks: Chunks, progress, started: float) -> None:
    cursor.execute("SET LOCAL synchronous_commit = off")
    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
    # Run the reference rows' deferred FK checks now: PostgreSQL
    # refuses to ALTER a table with pending trigger events.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    recreate = _drop_secondary_structures(cursor)
    loader = PostgresBulkLoader(cursor)
    loader.start()
    try:
        for done, rows in chunks:
            loader.put(rows)
            progress(f"  generated {done:,} accounts ({time.monotonic() - started:.0f}s)")
    finally:
        loader.finish()
    progress(f"  rebuilding {len(recreate)} indexes and constraints")
    for statement in recreate:
        cursor.execute(statement)


def _write_sqlite(cursor, chunks: Chunks, progress, started: float) -> None:
    for done, rows in chunks:
        for model, columns in BULK_TABLES:
            if rows[model]:
                cursor.executemany(
                    f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join(['%s'] * len(columns))})",
                    [tuple(_sqlite_value(v) for v in row) for row in rows[model]],
                )
        progress(f"  inserted {done:,} accounts ({time.monotonic() - started:.0f}s)")


def _sqlite_value(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _copy_text(rows: list[tuple]) -> str:
    buf = io.StringIO()
    write = buf.write
    for row in rows:
        write("\t".join(["\\N" if v is None else str(v) for v in row]))
        write("\n")
    return buf.getvalue()


class PostgresBulkLoader:
    """COPY in a background thread while the main thread generates the next chunk."""

    def __init__(self, cursor):
        self.cursor = cursor
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        raw = self.cursor.cursor  # psycopg2 cursor under Django's wrapper
        try:
            while True:
                item = self.queue.get()
                if item is None:
                    return
                for model, columns, text in item:
                    raw.copy_expert(
                        f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN",
                        io.StringIO(text),
                    )
        except BaseException as exc:  # surfaced by the main thread
            self.error = exc
            while self.queue.get() is not None:
                pass

    def start(self):
        self.thread.start()

    def put(self, chunk: dict[type, list[tuple]]):
        if self.error:
            raise self.error
        self.queue.put(
            [(model, cols, _copy_text(chunk[model])) for model, cols in BULK_TABLES if chunk[model]]
        )

    def finish(self):
        self.queue.put(None)
        self.thread.join()
        if self.error:
            raise self.error


def _drop_secondary_structures(cursor) -> list[str]:
    """Drop the bulk tables' non-primary indexes and FK/unique constraints.
    Returns the statements that recreate them."""
    tables = [model._meta.db_table for model, _ in BULK_TABLES]
    cursor.execute(
        """
        SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid), c.contype
        FROM pg_constraint c
        WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype IN ('f', 'u')
        """,
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
          AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))
        """,
        [tables],
    )
    indexes = cursor.fetchall()
    recreate = [indexdef for _, indexdef in indexes]
    # Unique constraints before foreign keys (an FK may rely on one).
    order = {"u": 0, "f": 1}
    for name, table, definition, _kind in sorted(constraints, key=lambda c: order[c[3]]):
        recreate.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, table, _definition, kind in constraints:
        if kind == "f":
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, table, _definition, kind in constraints:
        if kind != "f":
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return recreate
