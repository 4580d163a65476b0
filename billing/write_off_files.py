"""The bulk write-off file (seed 002): a .txt or .csv file of account IDs
(our file numbers), at most 2,000 entries, previewed before anything is
written off (account ID, customer name, fulfilment centre, days since the
default state, eligible or why not, by days since default ascending), then
saved: a bulk operation writes off the eligible accounts, checking each
again when it runs.

The file and its preview are rows (``WriteOffFile``, ``WriteOffFileRow``),
never a process's memory. A bad file is refused with a sentence naming the
line, and nothing is stored."""

from __future__ import annotations

import csv
import io
import re

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import AccountStatus
from accounts.selectors import accounts_visible_to
from billing.models import WriteOffFile, WriteOffFileRow
from bulkops.selection import Selection
from bulkops.services import record_audit_event, start_operation

MAX_ENTRIES = 2000
MAX_BYTES = 1024 * 1024
MAX_REFERENCE = 40  # a file number's length, with room
HEADINGS = {"account id", "account", "account number", "file number", "account_id", "id"}

NOT_FOUND = "The account does not exist."
NOT_IN_DEFAULT = "The account is not in a default state (and no repossession is recorded)."
TERMINATED = "The account has already been terminated."


class WriteOffFileError(ValueError):
    """A file that cannot be used, with a message for the user."""


def _text(upload) -> str:
    if upload.size > MAX_BYTES:
        raise WriteOffFileError(f"“{upload.name}” is larger than 1 MB: it cannot be a list of "
                                f"{MAX_ENTRIES:,} account IDs.")  # fmt: skip
    raw = upload.read()
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def read_references(upload) -> list[tuple[int, str]]:
    """(line, account ID) for each distinct account ID of the file, in the
    file's order: UTF-8 with or without BOM, else Windows-1252 / Latin-1; a
    heading on the first line or none; blank lines skipped; the first
    column of a CSV; a value repeated kept once, at its first line."""
    name = upload.name or "the file"
    if not name.lower().endswith((".csv", ".txt")):
        raise WriteOffFileError(f"“{name}” is not a .txt or .csv file.")
    text = _text(upload)
    references: dict[str, int] = {}
    try:
        try:  # a comma, a semicolon (a European spreadsheet's CSV) or a tab
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        rows = csv.reader(io.StringIO(text, newline=""), dialect, strict=True)
        for line, row in enumerate(rows, start=1):
            cells = [cell.strip() for cell in row]
            value = next((cell for cell in cells if cell), "")
            if not value:
                continue
            if line == 1 and value.casefold() in HEADINGS:
                continue
            if any(ord(ch) < 32 and ch not in "\t" for ch in value) or "\x00" in value:
                raise WriteOffFileError(
                    f"Line {line:,} of “{name}” is not text: is it a binary file?"
                )
            if len(value) > MAX_REFERENCE or " " in value:
                raise WriteOffFileError(
                    f"Line {line:,} of “{name}” is not an account ID: “{value[:60]}”."
                )
            references.setdefault(value.upper(), line)
            if len(references) > MAX_ENTRIES:
                raise WriteOffFileError(_too_many(name, text))
    except csv.Error as exc:
        raise WriteOffFileError(f"“{name}” could not be read: {exc}.") from exc
    if not references:
        raise WriteOffFileError(f"“{name}” has no account ID in it.")
    return [(line, reference) for reference, line in references.items()]


def _too_many(name: str, text: str) -> str:
    firsts = (re.split(r"[,;\t]", line)[0].strip() for line in text.splitlines())
    distinct = {value.upper() for value in firsts if value and value.casefold() not in HEADINGS}
    return (
        f"“{name}” has {len(distinct):,} entries; a file may have at most {MAX_ENTRIES:,}. "
        "Split it."
    )


def eligibility(account, today) -> str:
    """Why ``account`` cannot be written off from a file ("" when it can)."""
    category = account.status.category if account.status_id else ""
    if account.terminated_on is not None or category == AccountStatus.Category.TERMINATED:
        return TERMINATED
    if category != AccountStatus.Category.DEFAULT and account.repossessed_on is None:
        return NOT_IN_DEFAULT
    return ""


def preview_write_off_file(*, user, upload) -> WriteOffFile:
    """Read the file and store its preview: each account ID with what the
    preview shows and, for an ineligible one, why. An account the user may
    not see reads exactly as one that does not exist."""
    references = read_references(upload)
    today = timezone.localdate()
    accounts = {
        account.file_number: account
        for account in accounts_visible_to(user)
        .filter(file_number__any=[reference for _, reference in references])
        .select_related("status", "debtor", "office")
    }
    rows = []
    for line, reference in references:
        account = accounts.get(reference)
        if account is None:
            rows.append(WriteOffFileRow(line=line, reference=reference, reason=NOT_FOUND))
            continue
        debtor = account.debtor
        rows.append(
            WriteOffFileRow(
                line=line,
                reference=reference,
                account=account,
                customer_name=f"{debtor.first_name} {debtor.last_name}".strip()[:300],
                office_name=str(account.office or "")[:200],
                days_since_default=(today - account.default_date).days
                if account.default_date
                else None,
                reason=eligibility(account, today),
            )
        )
    with transaction.atomic():
        written = WriteOffFile.objects.create(
            company_id=user.company_id,
            uploaded_by=user,
            name=(upload.name or "file")[:255],
            entries=len(rows),
            eligible=sum(1 for row in rows if not row.reason),
        )
        for row in rows:
            row.file = written
        WriteOffFileRow.objects.bulk_create(rows)
        record_audit_event(
            actor=user,
            action="write_off_file.previewed",
            obj=written,
            changes={
                "name": (None, written.name),
                "entries": (None, written.entries),
                "eligible": (None, written.eligible),
            },
        )
    return written


def preview_rows(written: WriteOffFile):
    """The preview's rows, by days since default ascending (the youngest
    defaults first: a write-off too early shows at the top); unknown days
    last."""
    return written.rows.order_by(F("days_since_default").asc(nulls_last=True), "line")


def save_write_off_file(*, user, written: WriteOffFile, note: str = ""):
    """Start the bulk operation that writes off the file's eligible accounts
    (each checked again when it runs). Saving twice returns the first
    operation."""
    if written.bulk_operation_id is not None:
        return written.bulk_operation
    ids = frozenset(
        written.rows.filter(reason="", account__isnull=False).values_list("account_id", flat=True)
    )
    selection = Selection("accounts", ids=ids)
    operation = start_operation(
        user=user,
        action_key="write_off_file",
        selection=selection,
        confirmed_count=selection.count(user),
        data={"file": str(written.pk), "note": note},
        # One operation per file, however often Save is clicked.
        idempotency_key=f"write-off-file-{written.pk}",
    )
    WriteOffFile.objects.filter(pk=written.pk, bulk_operation=None).update(bulk_operation=operation)
    return operation
