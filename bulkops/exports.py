"""Export Accounts: the selected accounts to a CSV or Excel file.

How the file is made exactly once, whatever the engine redoes:

* each chunk (one transaction) writes its rows to a PART file in the default
  storage, ``exports/<operation>/part-<first account id>.csv``, and records an
  ``ExportPart`` row in the same transaction. A chunk redone after a crash
  overwrites its part (same name) and re-records its row; a part file whose
  chunk was rolled back has no row and is ignored, then deleted;
* ``finish`` (once, when nothing is pending) concatenates the recorded parts
  in account order into the final file (CSV: a UTF-8 BOM and the header
  first; XLSX: a write-only workbook, a new sheet every 1,048,576 rows), then
  deletes the parts once the transaction commits.

Everything streams through temporary files: memory holds one chunk's rows at
most, never the file. Sensitive columns (account number, debtor name, email,
phone) are masked unless the user may see unmasked data; that is checked when
the export is confirmed and again, for the user who confirmed it, in every
chunk. Cells that a spreadsheet would read as a formula are neutralised: a
quote before them in CSV, a plain string cell in XLSX.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import posixpath
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Count, DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from openpyxl.styles import Font

from accounts.masking import mask_account_number, mask_email, mask_name, mask_phone
from accounts.models import (
    Account,
    AccountFlag,
    CustomField,
    CustomFieldValue,
    DebtorEmail,
    DebtorPhone,
)
from accounts.selectors import accounts_visible_to, grid_columns_for
from accounts.states import STATE_CHOICES
from accounts.tables import ALL_COLUMNS, AccountTable
from billing.models import Claim
from bulkops.models import BulkOperation, ExportFile, ExportFormat, ExportPart, ExportTemplate
from bulkops.registry import BulkAction, Chunk, Outcomes, register
from bulkops.services import record_audit_event

EXPORT_PERMISSION = "accounts.export_accounts"
UNMASK_PERMISSION = "accounts.view_unmasked_data"
DOWNLOAD_ANY_PERMISSION = "bulkops.download_any_export"

# Excel's limit, header included; module-level so tests can make it small.
XLSX_MAX_ROWS = 1_048_576
XLSX_SHEET_TITLE = "Accounts"
CSV_BOM = "\ufeff".encode()
COPY_BUFFER = 1 << 20
# A cell starting with one of these is a formula (or becomes one) in a spreadsheet.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CURRENCY_FORMAT = '"$"#,##0.00'
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
CUSTOM_PREFIX = "cf:"

# Kinds of column: how a value is written in each format.
TEXT, MONEY, NUMBER, INTEGER, DATE, DATETIME = (
    "text",
    "money",
    "number",
    "integer",
    "date",
    "datetime",
)
NUMERIC_KINDS = (MONEY, NUMBER, INTEGER)
CENT = Decimal("0.01")
PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
STATE_NAMES = dict(STATE_CHOICES)


class ExportError(Exception):
    """The export cannot go on; the message is for the user."""


# --- columns ---------------------------------------------------------------------------


@dataclass
class RowContext:
    """What one chunk's rows share besides their own query row."""

    today: dt.date
    flags: dict[int, list[str]] = field(default_factory=dict)
    custom: dict[tuple[int, int], str] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = TEXT
    fields: tuple[str, ...] = ()
    get: Callable[[dict[str, Any], RowContext], Any] | None = None
    mask: Callable[[str | None], str] | None = None  # set for the sensitive columns
    annotation: str = ""  # a name in ANNOTATIONS the query must add
    custom_field_id: int | None = None

    @property
    def sensitive(self) -> bool:
        return self.mask is not None

    def value(self, row: dict[str, Any], context: RowContext) -> Any:
        if self.get is not None:
            return self.get(row, context)
        return row[self.annotation or self.fields[0]]


def _grid_label(name: str) -> str:
    return str(AccountTable.base_columns[name].verbose_name)


def _person(first: str | None, last: str | None) -> str:
    return f"{first or ''} {last or ''}".strip()


def _assigned_to(row, context):
    if row["assigned_to__username"] is None:
        return None
    # As User.__str__ (the grid's cell): the full name, else the username.
    return (
        _person(row["assigned_to__first_name"], row["assigned_to__last_name"])
        or row["assigned_to__username"]
    )


def _days_since_default(row, context):
    default_date = row["default_date"]
    return None if default_date is None else (context.today - default_date).days


def _grid_columns() -> list[Column]:
    """The grid's columns (accounts.tables), with the grid's labels."""
    specs: dict[str, dict[str, Any]] = {
        "file_number": {"fields": ("file_number",)},
        "client": {"fields": ("client__name",)},
        "portfolio": {"fields": ("portfolio__name",)},
        "account_number": {"fields": ("account_number",), "mask": mask_account_number},
        "debtor": {
            "fields": ("debtor__first_name", "debtor__last_name"),
            "get": lambda row, c: _person(row["debtor__first_name"], row["debtor__last_name"]),
            "mask": mask_name,
        },
        "status": {"fields": ("status__name",)},
        "current_balance": {"fields": ("current_balance",), "kind": MONEY},
        "assigned_to": {
            "fields": (
                "assigned_to__first_name",
                "assigned_to__last_name",
                "assigned_to__username",
            ),
            "get": _assigned_to,
        },
        "creditor": {"fields": ("creditor__name",)},
        "last_worked_at": {"fields": ("last_worked_at",), "kind": DATETIME},
        "last_payment_amount": {"fields": ("last_payment_amount",), "kind": MONEY},
        "last_payment_date": {"fields": ("last_payment_date",), "kind": DATE},
        "state": {
            "fields": ("debtor__state",),
            "get": lambda row, c: STATE_NAMES.get(row["debtor__state"], row["debtor__state"]),
        },
        "declined_count": {"fields": ("declined_count",), "kind": INTEGER},
        "stage": {
            "fields": ("stage",),
            "get": lambda row, c: Account.Stage(row["stage"]).label if row["stage"] else "",
        },
        "flags": {"get": lambda row, c: ", ".join(c.flags.get(row["pk"], ()))},
        "days_since_default": {
            "fields": ("default_date",),
            "kind": INTEGER,
            "get": _days_since_default,
        },
        "office": {"fields": ("office__name",)},
    }
    assert set(specs) == set(ALL_COLUMNS), "every grid column needs an export spec"
    return [Column(key=name, label=_grid_label(name), **specs[name]) for name in ALL_COLUMNS]


# Subqueries the main query adds when their columns are chosen (one query a chunk).
def _primary(model, value_field):
    return Subquery(
        model.objects.filter(debtor_id=OuterRef("debtor_id"), is_primary=True)
        .order_by("pk")
        .values(value_field)[:1]
    )


def _claims():
    return Claim.objects.filter(account_id=OuterRef("pk")).order_by().values("account_id")


MONEY_FIELD = DecimalField(max_digits=16, decimal_places=2)
ANNOTATIONS: dict[str, Callable[[], Any]] = {
    "x_email": lambda: _primary(DebtorEmail, "address"),
    "x_phone": lambda: _primary(DebtorPhone, "number"),
    "x_claims_count": lambda: Coalesce(
        Subquery(_claims().annotate(n=Count("pk")).values("n")), Value(0)
    ),
    "x_claims_balance": lambda: Coalesce(
        Subquery(
            _claims().annotate(total=Sum("balance")).values("total"), output_field=MONEY_FIELD
        ),
        Value(Decimal("0.00")),
        output_field=MONEY_FIELD,
    ),
}

EXTRA_COLUMNS = [
    Column("email", "Email", annotation="x_email", mask=mask_email),
    Column("phone", "Phone", annotation="x_phone", mask=mask_phone),
    Column("address_line1", "Address Line 1", fields=("debtor__address_line1",)),
    Column("address_line2", "Address Line 2", fields=("debtor__address_line2",)),
    Column("city", "City", fields=("debtor__city",)),
    Column("postal_code", "Postal Code", fields=("debtor__postal_code",)),
    Column("country", "Country", fields=("debtor__country",)),
    Column("claims_count", "Claims", kind=INTEGER, annotation="x_claims_count"),
    Column("claims_balance", "Claims Balance", kind=MONEY, annotation="x_claims_balance"),
]

CUSTOM_KINDS = {CustomField.FieldType.NUMBER: NUMBER, CustomField.FieldType.DATE: DATE}


def _custom_column(custom_field: CustomField) -> Column:
    field_id = custom_field.pk
    return Column(
        key=f"{CUSTOM_PREFIX}{custom_field.key}",
        label=custom_field.name,
        kind=CUSTOM_KINDS.get(custom_field.field_type, TEXT),
        get=lambda row, c: c.custom.get((row["pk"], field_id), ""),
        custom_field_id=field_id,
    )


def available_columns(*, custom_keys: Iterable[str] = ()) -> dict[str, Column]:
    """Every column one can export, by key, in the chooser's order: the grid's,
    contact details, postal address, claims summary, then one per active
    custom field (and per inactive one named in ``custom_keys``)."""
    columns = {c.key: c for c in _grid_columns()}
    columns.update((c.key, c) for c in EXTRA_COLUMNS)
    wanted = [k.removeprefix(CUSTOM_PREFIX) for k in custom_keys if k.startswith(CUSTOM_PREFIX)]
    custom = CustomField.objects.filter(Q(is_active=True) | Q(key__in=wanted)).order_by("name")
    columns.update((c.key, c) for c in map(_custom_column, custom))
    return columns


def sensitive_keys() -> set[str]:
    return {c.key for c in [*_grid_columns(), *EXTRA_COLUMNS] if c.sensitive}


# --- cells -----------------------------------------------------------------------------


def escape_formula(text: str) -> str:
    """CSV: a quote before a cell a spreadsheet would run as a formula."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _is_number(text: str) -> bool:
    """A plain decimal number (as we write amounts): never a formula, even
    when negative. Anything else ("+5", "1e5") is text."""
    return PLAIN_NUMBER.fullmatch(text) is not None


def raw_value(value: Any, kind: str) -> str:
    """The value as it travels in a part file (and as CSV shows it)."""
    if value is None:
        return ""
    if kind == MONEY:
        return str(Decimal(value).quantize(CENT))
    if kind == DATETIME and isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if kind == DATE and isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def csv_cell(raw: str, kind: str) -> str:
    if kind in NUMERIC_KINDS and _is_number(raw):
        return raw  # a number is never a formula, negative or not
    return escape_formula(raw)


def xlsx_text(ws, text: str):
    """A string cell, never a formula or an error code."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)[:32767]
    if text.startswith("=") or text in ERROR_CODES:
        cell = WriteOnlyCell(ws, value=text)
        cell.data_type = "s"
        return cell
    return text


def xlsx_cell(ws, raw: str, kind: str):
    """The typed cell of a part file's value: amounts as numbers in a currency
    format, dates as dates; anything unreadable as its kind stays text."""
    if raw == "":
        return None
    try:
        if kind == MONEY:
            cell = WriteOnlyCell(ws, value=Decimal(raw))
            cell.number_format = CURRENCY_FORMAT
            return cell
        if kind == NUMBER and _is_number(raw):
            return Decimal(raw)
        if kind == INTEGER:
            return int(raw)
        if kind == DATE:
            cell = WriteOnlyCell(ws, value=dt.date.fromisoformat(raw))
            cell.number_format = DATE_FORMAT
            return cell
        if kind == DATETIME:
            cell = WriteOnlyCell(ws, value=dt.datetime.fromisoformat(raw))
            cell.number_format = DATETIME_FORMAT
            return cell
    except (ValueError, InvalidOperation):
        pass
    return xlsx_text(ws, raw)


# --- the parameters: which columns, masked or not ----------------------------------------


def may_unmask(user) -> bool:
    return bool(user and user.is_active and user.has_perm(UNMASK_PERMISSION))


def column_spec(columns: list[Column], masked: set[str], *, user) -> list[dict[str, Any]]:
    """The columns as stored on the operation. Without the right to see
    unmasked data every sensitive column is masked, whatever was asked."""
    unmask_allowed = may_unmask(user)
    return [
        {
            "key": c.key,
            "label": c.label,
            "kind": TEXT if c.sensitive and (c.key in masked or not unmask_allowed) else c.kind,
            "mask": c.sensitive and (c.key in masked or not unmask_allowed),
        }
        for c in columns
    ]


def resolve_spec(spec: list[dict[str, Any]], *, user) -> list[tuple[Column, bool]]:
    """The operation's columns, each with whether to mask it, for the user who
    confirmed it as they are now: masking is enforced again here."""
    keys = [entry["key"] for entry in spec]
    available = available_columns(custom_keys=keys)
    unmask_allowed = may_unmask(user)
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


def template_problem(template: ExportTemplate, available: dict[str, Column]) -> str | None:
    """Why a saved template cannot be used as it is, or None."""
    entries = template.columns if isinstance(template.columns, list) else []
    keys = [e.get("key") if isinstance(e, dict) else None for e in entries]
    if not keys:
        return f"The template “{template.name}” has no columns. Pick columns and save it again."
    unknown = [str(k) for k in keys if k not in available]
    if unknown:
        what = (
            "columns that no longer exist" if len(unknown) > 1 else "a column that no longer exists"
        )
        return (
            f"The template “{template.name}” names {what}: {', '.join(unknown)}. Nothing is "
            "exported with it: pick the columns again and save the template, or pick another."
        )
    if template.format not in ExportFormat.values:
        return f"The template “{template.name}” has an unknown format “{template.format}”."
    return None


def templates_visible_to(user) -> QuerySet[ExportTemplate]:
    """The user's own templates and those shared with their company."""
    if not user.is_authenticated:
        return ExportTemplate.objects.none()
    visible = Q(owner=user)
    if user.company_id is not None:
        visible |= Q(shared=True, company_id=user.company_id)
    return ExportTemplate.objects.filter(visible).select_related("owner").order_by("name", "pk")


def _ordered_unique(values: Iterable[str] | str | None) -> list[str]:
    """Distinct values in their order (one string counts as one value)."""
    if isinstance(values, str):
        values = [values]
    return list(dict.fromkeys(str(v) for v in values or []))


class ExportForm(forms.Form):
    """The Export dialog. ``columns`` are submitted in their order (the
    checked boxes in the chooser's row order); ``mask`` lists the sensitive
    columns to mask. ``template`` only fills the form (see the export-fields
    view); a template naming columns that no longer exist is refused."""

    template = forms.ModelChoiceField(
        label="Saved template",
        queryset=ExportTemplate.objects.none(),
        required=False,
        empty_label="— None —",
        error_messages={
            "invalid_choice": "That template no longer exists or is not shared with you. "
            "Pick another."
        },
    )
    format = forms.ChoiceField(
        label="Format",
        choices=ExportFormat.choices,
        initial=ExportFormat.CSV,
        error_messages={
            "required": "Choose a format: CSV or Excel (XLSX).",
            "invalid_choice": "Unknown format “%(value)s”: choose CSV or Excel (XLSX).",
        },
    )
    columns = forms.Field(widget=forms.MultipleHiddenInput, required=False)
    mask = forms.Field(widget=forms.MultipleHiddenInput, required=False)
    template_name = forms.CharField(label="Template name", max_length=100, required=False)
    template_shared = forms.BooleanField(label="Share with my company", required=False)

    def __init__(self, *args, user, selected_count=None, template=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.can_unmask = may_unmask(user)
        self.available = available_columns()
        self.sensitive = {k for k, c in self.available.items() if c.sensitive}
        self.fields["template"].queryset = templates_visible_to(user)
        self.template_problem = None
        initial_columns = [c for c in grid_columns_for(user) if c in self.available]
        initial_mask = set(self.sensitive)
        if template is not None and not self.is_bound:
            self.initial["template"] = template.pk
            self.template_problem = template_problem(template, self.available)
            if self.template_problem is None:
                self.initial["format"] = template.format
                self.initial["template_name"] = template.name
                self.initial["template_shared"] = template.shared
                initial_columns = [e["key"] for e in template.columns]
                initial_mask = {e["key"] for e in template.columns if e.get("mask")}
        self.initial.setdefault("columns", initial_columns)
        self.initial.setdefault("mask", sorted(initial_mask))

    # --- validation ---------------------------------------------------------------------

    def clean_template(self):
        template = self.cleaned_data["template"]
        if template is not None:
            problem = template_problem(template, self.available)
            if problem:
                raise forms.ValidationError(problem)
        return template

    def clean_columns(self):
        keys = _ordered_unique(self.cleaned_data["columns"])
        if not keys:
            raise forms.ValidationError("Choose at least one column to export.")
        unknown = [k for k in keys if k not in self.available]
        if unknown:
            raise forms.ValidationError(
                f"Unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
                "It may have been removed; pick the columns again."
            )
        return keys

    def clean_mask(self):
        return {k for k in _ordered_unique(self.cleaned_data["mask"]) if k in self.sensitive}

    def spec(self) -> list[dict[str, Any]]:
        columns = [self.available[k] for k in self.cleaned_data["columns"]]
        return column_spec(columns, self.cleaned_data["mask"], user=self.user)

    # --- rendering ----------------------------------------------------------------------

    def _submitted(self, name: str) -> list[str]:
        return _ordered_unique(
            self.fields[name].widget.value_from_datadict(self.data, self.files, name)
        )

    def column_rows(self) -> list[dict[str, Any]]:
        """The chooser's rows: the chosen columns in their order, then the rest."""
        if self.is_bound:
            chosen = _ordered_unique(self._submitted("columns"))
            masked = set(self._submitted("mask"))
        else:
            chosen = list(self.initial.get("columns", []))
            masked = set(self.initial.get("mask", []))
        chosen = [k for k in chosen if k in self.available]
        if not self.can_unmask:
            masked = set(self.sensitive)
        order = chosen + [k for k in self.available if k not in chosen]
        return [
            {
                "key": key,
                "label": self.available[key].label,
                "included": key in chosen,
                "sensitive": key in self.sensitive,
                "masked": key in masked,
            }
            for key in order
        ]


# --- the rows of one chunk ----------------------------------------------------------------


def chunk_rows(
    account_ids: list[int], columns: list[tuple[Column, bool]], *, user
) -> Iterator[tuple[int, list[str]]]:
    """(account id, raw cells) for the accounts of ``account_ids`` still
    visible to ``user``, in account order: one query with the joins the
    columns need, plus one for flags and one for custom values if chosen."""
    fields: dict[str, None] = {"pk": None}
    annotations = {}
    for column, _ in columns:
        fields.update(dict.fromkeys(column.fields))
        if column.annotation:
            annotations[column.annotation] = ANNOTATIONS[column.annotation]()
    queryset = (
        accounts_visible_to(user)
        .filter(pk__any=account_ids)
        .annotate(**annotations)
        .order_by("pk")
        .values(*fields, *annotations)
    )
    context = RowContext(today=timezone.localdate())
    if any(column.key == "flags" for column, _ in columns):
        flags = defaultdict(list)
        for account_id, name in (
            AccountFlag.objects.filter(account_id__any=account_ids)
            .order_by("flag__name")
            .values_list("account_id", "flag__name")
        ):
            flags[account_id].append(name)
        context.flags = flags
    custom_ids = [c.custom_field_id for c, _ in columns if c.custom_field_id is not None]
    if custom_ids:
        context.custom = {
            (account_id, field_id): value
            for account_id, field_id, value in CustomFieldValue.objects.filter(
                account_id__any=account_ids, field_id__in=custom_ids
            ).values_list("account_id", "field_id", "value")
        }
    for row in queryset.iterator(chunk_size=2000):
        cells = []
        for column, mask in columns:
            value = column.value(row, context)
            if mask:
                cells.append(column.mask(None if value is None else str(value)))
            else:
                cells.append(raw_value(value, column.kind))
        yield row["pk"], cells


# --- files ---------------------------------------------------------------------------------


def export_directory(operation: BulkOperation) -> str:
    return f"exports/{operation.pk}"


def part_name(operation: BulkOperation, first_account_id: int) -> str:
    return f"{export_directory(operation)}/part-{first_account_id:012d}.csv"


def final_name(operation: BulkOperation, file_format: str) -> str:
    return f"{export_directory(operation)}/accounts-{operation.pk}.{file_format}"


def _save_as(name: str, content: File) -> None:
    """Save ``content`` under exactly ``name``, replacing what is there (a
    redone chunk overwrites its part, a re-run finish its file)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, content)
    if saved != name:  # another writer raced us to the name
        default_storage.delete(saved)
        raise RuntimeError(f"Could not write {name}: the storage saved it as {saved}.")


def _store(name: str, handle) -> int:
    """Save an open binary file as ``name``. Returns the size."""
    handle.flush()
    size = handle.seek(0, io.SEEK_END)
    handle.seek(0)
    _save_as(name, File(handle, name=posixpath.basename(name)))
    return size


def _text_writer(handle):
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=True)
    return text, csv.writer(text)


def _read_part(name: str) -> Iterator[list[str]]:
    with default_storage.open(name, "rb") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        try:
            yield from csv.reader(text)
        finally:
            text.detach()


def _csv_header(header: list[str]) -> bytes:
    text = io.StringIO(newline="")
    csv.writer(text).writerow([escape_formula(label) for label in header])
    return CSV_BOM + text.getvalue().encode()


class _Concatenation(io.RawIOBase):
    """The file's first bytes, then each stored part's bytes in turn, as one
    readable stream: the CSV is assembled as storage saves it, never first
    in a local temporary file."""

    def __init__(self, head: bytes, names: list[str]):
        self._sources = iter([io.BytesIO(head), *names])
        self._current = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self._current is None:
                source = next(self._sources, None)
                if source is None:
                    return 0
                self._current = (
                    source if isinstance(source, io.BytesIO) else default_storage.open(source, "rb")
                )
            data = self._current.read(len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        super().close()


def _store_csv(name: str, header: list[str], parts: list[ExportPart]) -> int:
    """Save the header and the parts, in order, as the file ``name``."""
    head = _csv_header(header)
    size = len(head) + sum(default_storage.size(part.name) for part in parts)
    with _Concatenation(head, [part.name for part in parts]) as stream:
        content = File(io.BufferedReader(stream, COPY_BUFFER), name=posixpath.basename(name))
        content.size = size
        _save_as(name, content)
    return size


def _write_xlsx(handle, header: list[str], kinds: list[str], parts: list[ExportPart]) -> None:
    """A write-only workbook (rows stream to disk), a new sheet, with its own
    header, whenever a sheet reaches XLSX_MAX_ROWS rows."""
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    sheet, used = None, XLSX_MAX_ROWS

    def new_sheet():
        number = len(workbook.worksheets) + 1
        ws = workbook.create_sheet(
            XLSX_SHEET_TITLE if number == 1 else f"{XLSX_SHEET_TITLE} ({number})"
        )
        ws.freeze_panes = "A2"
        cells = []
        for label in header:
            cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", label))
            cell.data_type = "s"
            cell.font = bold
            cells.append(cell)
        ws.append(cells)
        return ws, 1

    for part in parts:
        for raw_row in _read_part(part.name):
            if used >= XLSX_MAX_ROWS:
                sheet, used = new_sheet()
            sheet.append(
                [xlsx_cell(sheet, raw, kind) for raw, kind in zip(raw_row, kinds, strict=True)]
            )
            used += 1
    if sheet is None:
        new_sheet()
    workbook.save(handle)


def _delete_files(names: Iterable[str]) -> None:
    for name in names:
        with contextlib.suppress(OSError):  # a leftover part wastes space, nothing else
            default_storage.delete(name)


def _part_files(operation: BulkOperation) -> set[str]:
    directory = export_directory(operation)
    try:
        _, files = default_storage.listdir(directory)
    except FileNotFoundError:
        return set()
    return {f"{directory}/{f}" for f in files if f.startswith("part-")}


# --- the action ----------------------------------------------------------------------------


@register
class ExportAccounts(BulkAction):
    key = "export"
    target = "accounts"
    group = "Export"
    scripts = ("js/export.js",)
    done_word = "exported"
    finishing_text = "assembling the file"
    result_template = "bulkops/_export_download.html"
    changes_accounts = False
    label = "Export"
    permission = EXPORT_PERMISSION
    order = 50
    form_class = ExportForm
    confirm_label = "Export"
    dialog_template = "bulkops/_export_fields.html"
    # Rows stream to a part file, so memory stays flat whatever the number of
    # accounts. Python writes .xlsx (and CSV on SQLite) row by row: 50,000 a
    # chunk. A CSV on PostgreSQL is COPY: a chunk's ~28 MB of CSV is held in
    # memory (a few copies while its halves are joined and stored: ~120 MB at
    # the peak), and large chunks let PostgreSQL plan each statement like a scan
    # of the table (hash joins, not a lookup an account): 4.2 s for the COPY
    # statements of 1M accounts at 250,000 a chunk, 7.2 s at 50,000.
    chunk_size = 50_000
    copy_chunk_size = 250_000

    def chunk_size_for(self, operation):
        if operation.parameters.get("format") == ExportFormat.CSV and (
            connection.vendor == "postgresql"
        ):
            return self.copy_chunk_size
        return self.chunk_size

    def parameters(self, form):
        template = form.cleaned_data.get("template")
        return {
            "format": form.cleaned_data["format"],
            "columns": form.spec(),
            "template": template.pk if template else None,
            "template_name": template.name if template else "",
        }

    def describe(self, parameters):
        count = len(parameters.get("columns", []))
        label = ExportFormat(parameters.get("format", "csv")).label
        text = f"Export {count} column{'s' if count != 1 else ''} to {label}"
        if parameters.get("template_name"):
            text += f" (template “{parameters['template_name']}”)"
        return text

    def apply(self, items: Chunk, operation):
        ids = sorted(items.target_ids)
        user = operation.created_by
        if not (user.is_active and user.has_perm(EXPORT_PERMISSION)):
            return Outcomes.all_failed(ids, "The user who started the export may no longer export.")
        try:
            columns = resolve_spec(operation.parameters["columns"], user=user)
        except ExportError as exc:
            return Outcomes.all_failed(ids, str(exc))
        kinds = [column.kind if not mask else TEXT for column, mask in columns]
        as_csv = operation.parameters["format"] == ExportFormat.CSV
        written: list[int] = []
        name = part_name(operation, ids[0])
        if as_csv and connection.vendor == "postgresql":
            # The same bytes as below, made by the database with COPY, and
            # saved from memory (COPY returns them there anyway).
            from bulkops.export_sql import copy_rows  # it reads this module's kinds

            visible = accounts_visible_to(user)
            data, rows = copy_rows(columns, ids, today=timezone.localdate(), visible_to=visible)
            written = ids
            if rows != len(ids):  # some are no longer visible: which ones?
                written = list(visible.filter(pk__any=ids).values_list("pk", flat=True))
            _store(name, io.BytesIO(data))
        else:
            with tempfile.TemporaryFile() as handle:
                text, writer = _text_writer(handle)
                for account_id, cells in chunk_rows(ids, columns, user=user):
                    if as_csv:
                        cells = [
                            csv_cell(raw, kind) for raw, kind in zip(cells, kinds, strict=True)
                        ]
                    writer.writerow(cells)
                    written.append(account_id)
                text.detach()
                _store(name, handle)
        ExportPart.objects.update_or_create(
            operation=operation,
            first_account_id=ids[0],
            defaults={"name": name, "rows": len(written)},
        )
        outcomes = Outcomes()
        outcomes.skip(
            set(ids) - set(written), "No longer visible to the user who started the export"
        )
        return outcomes

    def finish(self, operation):
        parts = list(ExportPart.objects.filter(operation=operation).order_by("first_account_id"))
        recorded = {part.name for part in parts}
        # Parts of chunks that were rolled back and not redone: never part of the file.
        _delete_files(_part_files(operation) - recorded)
        rows = sum(part.rows for part in parts)
        spec = operation.parameters["columns"]
        file_format = operation.parameters["format"]
        user = operation.created_by
        if rows:
            header = [entry["label"] for entry in spec]
            kinds = [TEXT if entry.get("mask") else entry.get("kind", TEXT) for entry in spec]
            name = final_name(operation, file_format)
            if file_format == ExportFormat.XLSX:
                with tempfile.TemporaryFile() as handle:
                    _write_xlsx(handle, header, kinds, parts)
                    size = _store(name, handle)
            else:
                size = _store_csv(name, header, parts)
            now = timezone.now()
            ExportFile.objects.update_or_create(
                operation=operation,
                defaults={
                    "name": name,
                    "format": file_format,
                    "rows": rows,
                    "size": size,
                    "created_at": now,
                    "expires_at": now + dt.timedelta(hours=settings.EXPORT_LINK_TTL_HOURS),
                },
            )
            unmasked = []
            if may_unmask(user):
                sensitive = sensitive_keys()
                unmasked = [e["key"] for e in spec if e["key"] in sensitive and not e["mask"]]
            record_audit_event(
                actor=user,
                action="export.created",
                obj=operation,
                changes={
                    "file": (None, name),
                    "rows": (None, rows),
                    "unmasked_columns": (None, unmasked),
                },
                bulk_operation=operation,
            )
        if not operation.failed:
            # Nothing left to retry: the parts go, once this transaction commits
            # (if it does not, finish runs again and needs them).
            ExportPart.objects.filter(operation=operation).delete()
            transaction.on_commit(lambda: _delete_files(recorded))

    def cancelled(self, operation):
        # No file will be assembled: the parts go once the cancel commits.
        names = _part_files(operation) | set(
            ExportPart.objects.filter(operation=operation).values_list("name", flat=True)
        )
        ExportPart.objects.filter(operation=operation).delete()
        transaction.on_commit(lambda: _delete_files(names))


def purge_expired_exports(*, now: dt.datetime | None = None) -> int:
    """Delete from storage the files whose download link has expired (the
    row stays, so the operation page can say when it expired). Returns how
    many files were purged; beat runs it hourly."""
    now = now or timezone.now()
    expired = list(
        ExportFile.objects.filter(expires_at__lte=now, purged_at__isnull=True).values_list(
            "pk", "name"
        )
    )
    for _, name in expired:
        _delete_files([name])
    ExportFile.objects.filter(pk__any=[pk for pk, _ in expired]).update(purged_at=now)
    return len(expired)


# --- downloads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    """Whether ``user`` may download an operation's file, and why not."""

    status: str  # "ready", "forbidden" (403), "expired" (410), "none" (no file)
    message: str = ""
    file: ExportFile | None = None

    HTTP_STATUS = {"ready": 200, "forbidden": 403, "expired": 410, "none": 404}

    @property
    def http_status(self) -> int:
        return self.HTTP_STATUS[self.status]


def may_download(user, operation: BulkOperation) -> bool:
    """The export's creator (while still allowed to export) and whoever may
    download any export (Admins). Company scoping is the caller's: the
    operation must be one ``operations_visible_to(user)`` returns."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(DOWNLOAD_ANY_PERMISSION):
        return True
    return operation.created_by_id == user.pk and user.has_perm(EXPORT_PERMISSION)


def download_state(user, operation: BulkOperation) -> Download:
    if operation.kind != ExportAccounts.key:
        return Download("none", "This operation is not an export.")
    export_file = ExportFile.objects.filter(operation=operation).first()
    if export_file is None:
        if operation.is_active:
            return Download("none", "The file is being prepared.")
        return Download("none", "There is no file: no account was exported.")
    if not may_download(user, operation):
        return Download(
            "forbidden",
            "Only the person who ran this export and Admins may download its file.",
            export_file,
        )
    if export_file.is_expired:
        expired_on = timezone.localtime(export_file.expires_at).strftime("%Y-%m-%d %H:%M")
        return Download(
            "expired",
            f"The download link expired on {expired_on}. Run the export again.",
            export_file,
        )
    return Download("ready", "", export_file)
