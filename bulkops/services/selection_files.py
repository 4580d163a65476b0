"""Selections from uploaded files: read a CSV naming rows of a list (file
numbers for the accounts grid), keep the rows its uploader may see, and
report the values that named none. Bad files are refused with a sentence
and leave nothing behind."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bulkops.models import SelectionFile, SelectionFileRow
from bulkops.registry import Selectable
from bulkops.services.audit import record_audit_event

MAX_BYTES = 20 * 1024 * 1024
MAX_LINES = 1_000_000
MAX_VALUE_LENGTH = 100
NOT_FOUND_KEPT = 50  # the values not found that the page lists


class SelectionFileError(ValueError):
    """A file that cannot be used, with a message for the user."""


def _values(upload, column_label: str) -> list[tuple[int, str]]:
    """(line, value) for each non-empty value of the file's column: the one
    headed ``column_label`` (any case) when the first line has that heading,
    else the first column, from the first line."""
    if upload.size > MAX_BYTES:
        raise SelectionFileError(
            f"“{upload.name}” is larger than {MAX_BYTES // (1024 * 1024)} MB; split it."
        )
    raw = upload.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SelectionFileError(
            f"“{upload.name}” is not a UTF-8 text file (CSV); save it as CSV UTF-8."
        ) from exc
    if "\x00" in text:
        raise SelectionFileError(f"“{upload.name}” is not a text file (CSV).")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect, strict=True)
    column, values = 0, []
    try:
        for line, row in enumerate(rows, start=1):
            if line == 1:
                headings = [cell.strip().casefold() for cell in row]
                if column_label.casefold() in headings:
                    column = headings.index(column_label.casefold())
                    continue
            if len(values) >= MAX_LINES:
                raise SelectionFileError(
                    f"“{upload.name}” has more than {MAX_LINES:,} values; split it."
                )
            value = row[column].strip() if column < len(row) else ""
            if not value:
                continue
            if len(value) > MAX_VALUE_LENGTH:
                raise SelectionFileError(
                    f"Line {line:,} of “{upload.name}” is not a {column_label}: it is too long."
                )
            values.append((line, value))
    except csv.Error as exc:
        raise SelectionFileError(f"“{upload.name}” could not be read as CSV: {exc}.") from exc
    if not values:
        raise SelectionFileError(f"“{upload.name}” has no {column_label} in it.")
    return values


def read_selection_file(*, user, selectable: Selectable, upload) -> SelectionFile:
    """Keep the rows the uploaded file names that ``user`` may see, as a
    file they can select. Refuses (SelectionFileError) a file that is too
    big, not text, not CSV, empty, or names no row the user may see."""
    if selectable.find_rows is None:
        raise SelectionFileError(
            f"{selectable.plural.capitalize()} cannot be selected from a file."
        )
    values = _values(upload, selectable.row_label)
    found = selectable.find_rows(user, list(dict.fromkeys(v for _, v in values)))
    first_line: dict[int, int] = {}
    not_found = []
    for line, value in values:
        target = found.get(value)
        if target is None:
            not_found.append((line, value))
        else:
            first_line.setdefault(target, line)
    if not first_line:
        raise SelectionFileError(
            f"None of the {len(values):,} values in “{upload.name}” is a "
            f"{selectable.row_label} of {selectable.plural} you can see."
        )
    name = (upload.name or "file")[:255]
    with transaction.atomic():
        selection_file = SelectionFile.objects.create(
            selectable=selectable.key,
            owner=user,
            name=name,
            lines=len(values),
            found=len(first_line),
            not_found=[list(pair) for pair in not_found[:NOT_FOUND_KEPT]],
            not_found_count=len(not_found),
        )
        SelectionFileRow.objects.bulk_create(
            (
                SelectionFileRow(file=selection_file, target_id=target, line=line)
                for target, line in first_line.items()
            ),
            batch_size=5_000,
        )
        record_audit_event(
            actor=user,
            action="selection_file.uploaded",
            obj=selection_file,
            changes={
                "name": (None, name),
                "found": (None, len(first_line)),
                "not_found": (None, len(not_found)),
            },
        )
    return selection_file


def selection_file_of(user, selectable_key: str, value) -> SelectionFile | None:
    """The user's own, unexpired file of that list with id ``value``."""
    try:
        pk = int(value)
    except (TypeError, ValueError):
        return None
    return (
        SelectionFile.objects.filter(
            pk=pk, owner=user, selectable=selectable_key, uploaded_at__gte=_oldest_kept()
        )
        .only("pk", "name", "found")
        .first()
    )


def _oldest_kept() -> dt.datetime:
    return timezone.now() - dt.timedelta(days=settings.SELECTION_FILE_TTL_DAYS)


def purge_expired_selection_files() -> int:
    """Delete files past their time (an operation started from one keeps its
    own snapshot of the rows). Returns how many went."""
    expired = SelectionFile.objects.filter(uploaded_at__lt=_oldest_kept())
    count = 0
    for pk in expired.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            SelectionFileRow.objects.filter(file_id=pk).delete()
            SelectionFile.objects.filter(pk=pk).delete()
        count += 1
    return count
