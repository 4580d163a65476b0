"""The Export action of any list: the selected rows to a CSV or Excel file.
An app subclasses ``ExportAction`` with its list's ``Catalogue`` (and the
key, label, target and permission every action has) and registers it.

How the file is made exactly once, whatever the engine redoes:

* each chunk (one transaction) writes its rows to a PART file in the default
  storage, ``exports/<operation>/part-<first row id>.csv``, and records an
  ``ExportPart`` row in the same transaction. A chunk redone after a crash
  overwrites its part (same name) and re-records its row; a part file whose
  chunk was rolled back has no row and is ignored, then deleted;
* ``finish`` (once, when nothing is pending) concatenates the recorded parts
  in row order into the final file (CSV: a UTF-8 BOM and the header first;
  XLSX: a write-only workbook), then deletes the parts once the transaction
  commits.

Sensitive columns are masked unless the user may see unmasked data; that is
checked when the export is confirmed and again, for the user who confirmed
it, in every chunk.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bulkops.exports import files
from bulkops.exports.cells import TEXT, csv_cell
from bulkops.exports.columns import Catalogue, ExportError
from bulkops.exports.copy import copy_rows
from bulkops.exports.forms import ExportForm
from bulkops.models import ExportFile, ExportFormat, ExportPart
from bulkops.registry import BulkAction, Chunk, Outcomes, all_actions, get_action
from bulkops.services import record_audit_event


class ExportAction(BulkAction):
    """Subclass with ``catalogue`` set (its form is made from it) and the
    attributes every action declares, then ``@register`` it."""

    catalogue: Catalogue
    form_class = ExportForm
    dialog_template = "bulkops/_export_fields.html"
    result_template = "bulkops/_export_download.html"
    done_word = "exported"
    finishing_text = "assembling the file"
    confirm_label = "Export"
    changes_accounts = False
    # Rows stream to a part file, so memory stays flat whatever the number of
    # rows. Python writes .xlsx (and CSV on SQLite) row by row: 50,000 a
    # chunk. A CSV on PostgreSQL is COPY: a chunk's ~28 MB of CSV is held in
    # memory (a few copies while its halves are joined and stored: ~120 MB at
    # the peak), and large chunks let PostgreSQL plan each statement like a scan
    # of the table (hash joins, not a lookup a row): 4.2 s for the COPY
    # statements of 1M accounts at 250,000 a chunk, 7.2 s at 50,000.
    chunk_size = 50_000
    copy_chunk_size = 250_000

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        catalogue = cls.__dict__.get("catalogue")
        if catalogue is not None and "form_class" not in cls.__dict__:
            cls.form_class = type(f"{cls.__name__}Form", (ExportForm,), {"catalogue": catalogue})

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
        if not (user.is_active and user.has_perm(self.permission)):
            return Outcomes.all_failed(ids, "The user who started the export may no longer export.")
        try:
            columns = self.catalogue.resolve(operation.parameters["columns"], user=user)
        except ExportError as exc:
            return Outcomes.all_failed(ids, str(exc))
        name = files.part_name(operation, ids[0])
        as_csv = operation.parameters["format"] == ExportFormat.CSV
        if as_csv and connection.vendor == "postgresql":
            written = self._copy_part(name, ids, columns, user=user)
        else:
            written = self._write_part(name, ids, columns, user=user, as_csv=as_csv)
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

    def _copy_part(self, name: str, ids: list[int], columns, *, user) -> list[int]:
        """The part made by the database with COPY (the same bytes as
        ``_write_part``'s CSV), saved from memory (COPY returns it there
        anyway). Returns the ids written."""
        visible = self.catalogue.visible_to(user)
        data, rows = copy_rows(
            self.catalogue, columns, ids, today=timezone.localdate(), visible_to=visible
        )
        written = ids
        if rows != len(ids):  # some are no longer visible: which ones?
            written = list(visible.filter(pk__any=ids).values_list("pk", flat=True))
        files.store(name, io.BytesIO(data))
        return written

    def _write_part(self, name: str, ids: list[int], columns, *, user, as_csv: bool) -> list[int]:
        """The part written row by row in Python: CSV cells, or the raw values
        an .xlsx is made of. Returns the ids written."""
        kinds = [column.kind if not mask else TEXT for column, mask in columns]
        written = []
        with tempfile.TemporaryFile() as handle:
            text, writer = files.text_writer(handle)
            for row_id, cells in self.catalogue.rows(ids, columns, user=user):
                if as_csv:
                    cells = [csv_cell(raw, kind) for raw, kind in zip(cells, kinds, strict=True)]
                writer.writerow(cells)
                written.append(row_id)
            text.detach()
            files.store(name, handle)
        return written

    def finish(self, operation):
        parts = list(ExportPart.objects.filter(operation=operation).order_by("first_account_id"))
        recorded = {part.name for part in parts}
        # Parts of chunks that were rolled back and not redone: never part of the file.
        files.delete_files(files.part_files(operation) - recorded)
        rows = sum(part.rows for part in parts)
        spec = operation.parameters["columns"]
        file_format = operation.parameters["format"]
        user = operation.created_by
        if rows:
            header = [entry["label"] for entry in spec]
            kinds = [TEXT if entry.get("mask") else entry.get("kind", TEXT) for entry in spec]
            name = files.final_name(operation, self.catalogue.file_stem, file_format)
            size = files.assemble(
                name, file_format, header, kinds, parts, title=self.catalogue.sheet_title
            )
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
            if self.catalogue.may_unmask(user):
                sensitive = self.catalogue.sensitive_keys(user)
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
            transaction.on_commit(lambda: files.delete_files(recorded))

    def cancelled(self, operation):
        # No file will be assembled: the parts go once the cancel commits.
        names = files.part_files(operation) | set(
            ExportPart.objects.filter(operation=operation).values_list("name", flat=True)
        )
        ExportPart.objects.filter(operation=operation).delete()
        transaction.on_commit(lambda: files.delete_files(names))


def export_actions() -> list[ExportAction]:
    """Every registered export action."""
    return [get_action(a.key) for a in all_actions() if issubclass(a, ExportAction)]


def export_action(key: str | None = None) -> ExportAction | None:
    """The export action ``key``; without a key, the only one registered
    (None if there are several, or none)."""
    if key:
        action = get_action(key)
        return action if isinstance(action, ExportAction) else None
    actions = export_actions()
    return actions[0] if len(actions) == 1 else None
