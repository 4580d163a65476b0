"""What a list offers to export: its columns, and how a chunk of its rows is
read. The app that owns the list subclasses ``Catalogue`` (the accounts
grid's is ``accounts.columns``) and hands it to its ``ExportAction``; this
package knows no list.

A ``Column`` declares both ways its cell is made, side by side: in Python
(.xlsx, and CSV where there is no COPY), a value from the row the catalogue
reads, masked in Python; in SQL (CSV on PostgreSQL, ``bulkops.exports.copy``),
an expression over the catalogue's tables, masked in SQL. The file is the
same byte for byte whichever path made it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model, QuerySet
from django.utils import timezone

from bulkops.exports.cells import TEXT, raw_value


class ExportError(Exception):
    """The export cannot go on; the message is for the user."""


@dataclass(frozen=True)
class Lookup:
    """A read that some columns share, made once a chunk beside the row
    query (an account's flags, its custom values): ``load(ids, columns)``
    gets the chunk's ids and the chosen columns that name this lookup; its
    result is ``context[key]`` for their ``get``."""

    key: str
    load: Callable[[list[int], list[Column]], Any]


@dataclass
class RowContext:
    """What one chunk's rows share besides their own query row: the day
    (days since a date) and what the chunk's lookups loaded."""

    today: dt.date
    looked_up: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.looked_up[key]


@dataclass(frozen=True)
class Column:
    """One column of an export.

    In Python: the row query fetches ``fields`` (``values()`` paths) and
    ``annotation`` (an expression, made for each query, held in the row as
    ``annotation_name``); ``get(row, context)`` makes the value (by default
    the annotation, else the first field); ``mask`` masks it as text.

    In SQL: ``sql`` is an expression of text over the catalogue's alias and
    the ``joins`` it names (a callable gets the day); ``mask_sql`` wraps it
    to mask it, unless ``masked_sql`` is a cheaper masked form of its own.
    ``mask_never_formula``: every masked value starts with a character no
    spreadsheet reads as a formula ("*"), so it is not checked.
    ``typed_sql``: the database formats a value of a non-text kind itself,
    so it is never a formula either (False where the "number" is text that
    someone typed: a custom field's).

    A column is sensitive when it has a mask: it is masked unless the user
    may see unmasked data.
    """

    key: str
    label: str
    kind: str = TEXT
    fields: tuple[str, ...] = ()
    annotation: Callable[[], Any] | None = None
    lookup: Lookup | None = None
    get: Callable[[dict[str, Any], RowContext], Any] | None = None
    mask: Callable[[str | None], str] | None = None
    sql: str | Callable[[dt.date], str] = ""
    joins: tuple[str, ...] = ()
    mask_sql: Callable[[str], str] | None = None
    masked_sql: str = ""
    mask_never_formula: bool = False
    typed_sql: bool = True

    @property
    def sensitive(self) -> bool:
        return self.mask is not None

    @property
    def annotation_name(self) -> str:
        return f"x_{self.key}"

    def value(self, row: dict[str, Any], context: RowContext) -> Any:
        if self.get is not None:
            return self.get(row, context)
        return row[self.annotation_name if self.annotation is not None else self.fields[0]]

    def sql_for(self, today: dt.date) -> str:
        return self.sql(today) if callable(self.sql) else self.sql


class Catalogue:
    """The columns a list offers to export, and how its rows are read.

    Subclass, set ``model`` (the rows' model) and implement ``columns`` and
    ``visible_to``. For the COPY path, ``joins()`` gives each table a column
    may read besides the rows' own (``alias``), as its JOIN clause by alias,
    in join order; a clause may hold ``{name}`` placeholders, filled for
    each statement by ``join_bounds`` (bounds that let the database read a
    range of an index rather than look up each row).
    """

    model: type[Model]
    alias: str = "r"  # any alias but "t", the statement's own
    unmask_permission: str = ""
    file_stem: str = "export"  # the file is <stem>-<operation>.<format>
    sheet_title: str = "Export"

    # --- what the list's app says --------------------------------------------------------

    def columns(self, user, *, named: Iterable[str] = ()) -> dict[str, Column]:
        """Every column ``user`` may export, by key, in the chooser's order.
        ``named``: keys an operation or a template names, to be returned
        even where they are no longer offered but still exist (an inactive
        custom field's)."""
        raise NotImplementedError

    def initial_keys(self, user) -> list[str]:
        """The columns ticked when the Export dialog opens."""
        return []

    def visible_to(self, user) -> QuerySet:
        """The rows ``user`` may export."""
        raise NotImplementedError

    def joins(self) -> dict[str, str]:
        return {}

    def join_bounds(self, ids: list[int], aliases: set[str]) -> dict[str, str]:
        """The values of the placeholders of the joins ``aliases`` for a
        statement over ``ids``."""
        return {}

    # --- the same for every list ----------------------------------------------------------

    def may_unmask(self, user) -> bool:
        return bool(user and user.is_active and user.has_perm(self.unmask_permission))

    def sensitive_keys(self, user) -> set[str]:
        return {key for key, column in self.columns(user).items() if column.sensitive}

    def spec(self, columns: list[Column], masked: set[str], *, user) -> list[dict[str, Any]]:
        """The columns as stored on the operation. Without the right to see
        unmasked data every sensitive column is masked, whatever was asked."""
        unmask_allowed = self.may_unmask(user)
        return [
            {
                "key": c.key,
                "label": c.label,
                "kind": TEXT if c.sensitive and (c.key in masked or not unmask_allowed) else c.kind,
                "mask": c.sensitive and (c.key in masked or not unmask_allowed),
            }
            for c in columns
        ]

    def resolve(self, spec: list[dict[str, Any]], *, user) -> list[tuple[Column, bool]]:
        """The operation's columns, each with whether to mask it, for the user
        who confirmed it as they are now: masking is enforced again here."""
        available = self.columns(user, named=[entry["key"] for entry in spec])
        unmask_allowed = self.may_unmask(user)
        resolved = []
        for entry in spec:
            column = available.get(entry["key"])
            if column is None:
                raise ExportError(
                    f"The column “{entry.get('label') or entry['key']}” no longer exists: "
                    "it was removed after the export was confirmed."
                )
            mask = column.sensitive and (bool(entry.get("mask")) or not unmask_allowed)
            resolved.append((column, mask))
        return resolved

    def rows(
        self, ids: list[int], columns: list[tuple[Column, bool]], *, user
    ) -> Iterator[tuple[int, list[str]]]:
        """(row id, raw cells) for the rows of ``ids`` still visible to
        ``user``, in id order: one query with what the columns need, plus
        one for each lookup they name."""
        fields: dict[str, None] = {"pk": None}
        annotations = {}
        for column, _ in columns:
            fields.update(dict.fromkeys(column.fields))
            if column.annotation is not None:
                annotations[column.annotation_name] = column.annotation()
        queryset = (
            self.visible_to(user)
            .filter(pk__any=ids)
            .annotate(**annotations)
            .order_by("pk")
            .values(*fields, *annotations)
        )
        context = RowContext(today=timezone.localdate())
        for lookup in dict.fromkeys(c.lookup for c, _ in columns if c.lookup is not None):
            context.looked_up[lookup.key] = lookup.load(
                ids, [c for c, _ in columns if c.lookup == lookup]
            )
        for row in queryset.iterator(chunk_size=2000):
            cells = []
            for column, mask in columns:
                value = column.value(row, context)
                if mask:
                    cells.append(column.mask(None if value is None else str(value)))
                else:
                    cells.append(raw_value(value, column.kind))
            yield row["pk"], cells
