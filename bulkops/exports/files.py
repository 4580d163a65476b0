"""An export's files in the default storage (``MEDIA_ROOT`` or a bucket):
one part file a chunk, then the final file assembled from the recorded
parts, and the purge of files whose download link has expired.

Everything streams through temporary files: memory holds one chunk's rows at
most, never the file. A CSV is the header and the parts' bytes one after the
other, saved as storage reads them; an .xlsx is a write-only workbook, a new
sheet every ``XLSX_MAX_ROWS`` rows."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import posixpath
import tempfile
from collections.abc import Iterable, Iterator

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from openpyxl.styles import Font

from bulkops.exports.cells import escape_formula, xlsx_cell
from bulkops.models import BulkOperation, ExportFile, ExportFormat, ExportPart

# Excel's limit, header included; module-level so tests can make it small.
XLSX_MAX_ROWS = 1_048_576
CSV_BOM = "\ufeff".encode()
COPY_BUFFER = 1 << 20


# --- names ---------------------------------------------------------------------------------


def export_directory(operation: BulkOperation) -> str:
    return f"exports/{operation.pk}"


def part_name(operation: BulkOperation, first_id: int) -> str:
    return f"{export_directory(operation)}/part-{first_id:012d}.csv"


def final_name(operation: BulkOperation, stem: str, file_format: str) -> str:
    """``exports/<operation>/<stem>-<operation>.<format>`` (stem: "accounts")."""
    return f"{export_directory(operation)}/{stem}-{operation.pk}.{file_format}"


# --- writing -------------------------------------------------------------------------------


def _save_as(name: str, content: File) -> None:
    """Save ``content`` under exactly ``name``, replacing what is there (a
    redone chunk overwrites its part, a re-run finish its file)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, content)
    if saved != name:  # another writer raced us to the name
        default_storage.delete(saved)
        raise RuntimeError(f"Could not write {name}: the storage saved it as {saved}.")


def store(name: str, handle) -> int:
    """Save an open binary file as ``name``. Returns the size."""
    handle.flush()
    size = handle.seek(0, io.SEEK_END)
    handle.seek(0)
    _save_as(name, File(handle, name=posixpath.basename(name)))
    return size


def text_writer(handle):
    """A CSV writer over a binary file (UTF-8, CRLF row ends); detach the
    returned text wrapper when done so that the file stays open."""
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


def store_csv(name: str, header: list[str], parts: list[ExportPart]) -> int:
    """Save the header and the parts, in order, as the file ``name``."""
    head = _csv_header(header)
    size = len(head) + sum(default_storage.size(part.name) for part in parts)
    with _Concatenation(head, [part.name for part in parts]) as stream:
        content = File(io.BufferedReader(stream, COPY_BUFFER), name=posixpath.basename(name))
        content.size = size
        _save_as(name, content)
    return size


def write_xlsx(
    handle, header: list[str], kinds: list[str], parts: list[ExportPart], *, title: str
) -> None:
    """A write-only workbook (rows stream to disk), a new sheet, with its own
    header, whenever a sheet reaches XLSX_MAX_ROWS rows. Sheets are named
    ``title``, ``title (2)``, ..."""
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    sheet, used = None, XLSX_MAX_ROWS

    def new_sheet():
        number = len(workbook.worksheets) + 1
        ws = workbook.create_sheet(title if number == 1 else f"{title} ({number})")
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


def assemble(
    name: str,
    file_format: str,
    header: list[str],
    kinds: list[str],
    parts: list[ExportPart],
    *,
    title: str,
) -> int:
    """Save the final file ``name`` from the recorded ``parts``, in order, in
    ``file_format`` (.xlsx sheets are named after ``title``). Returns its size."""
    if file_format == ExportFormat.XLSX:
        with tempfile.TemporaryFile() as handle:
            write_xlsx(handle, header, kinds, parts, title=title)
            return store(name, handle)
    return store_csv(name, header, parts)


# --- deleting ------------------------------------------------------------------------------


def delete_files(names: Iterable[str]) -> None:
    for name in names:
        with contextlib.suppress(OSError):  # a leftover part wastes space, nothing else
            default_storage.delete(name)


def part_files(operation: BulkOperation) -> set[str]:
    """The part files in storage, recorded or not (a rolled-back chunk's)."""
    directory = export_directory(operation)
    try:
        _, files = default_storage.listdir(directory)
    except FileNotFoundError:
        return set()
    return {f"{directory}/{f}" for f in files if f.startswith("part-")}


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
        delete_files([name])
    ExportFile.objects.filter(pk__any=[pk for pk, _ in expired]).update(purged_at=now)
    return len(expired)
