"""``make bench``'s bulk write-off file: the preview of a 2,000-line file
(target: under 1 s of server time), through the upload view as a browser
posts it (Django's test client in-process: the form, the file read, the
accounts looked up, the preview stored, the redirect), against a
hand-written baseline in the same run: one psycopg ``SELECT`` of the same
accounts by file number and one multi-row ``INSERT`` of the same preview
rows.

The file holds 1,990 file numbers of accounts spread over the table, 5
unknown ones, 4 repeats and a heading, as a file from a spreadsheet would.
Every preview made is deleted afterwards."""

from __future__ import annotations

import random

from bench.harness import operator, percentiles, time_ms

LINES = 2000


def _file_text() -> str:
    from accounts.models import Account

    total = Account.objects.count()
    ids = sorted(random.Random(7).sample(range(1, total + 1), 1990))
    numbers = list(
        Account.objects.filter(pk__in=ids).values_list("file_number", flat=True).order_by("pk")
    )
    lines = ["Account ID", *numbers, *(f"NOPE-{n}" for n in range(5)), *numbers[:4]]
    return "\n".join(lines) + "\n"


def _baseline(numbers: list[str], user_id: int) -> None:
    """The same look-up and rows, by hand (a file row, then its rows), rolled back."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_writeofffile (uploaded_by_id, name, uploaded_at, entries, eligible)"
            " VALUES (%s, 'write-offs.csv', now(), %s, 0) RETURNING id",
            [user_id, len(numbers)],
        )
        file_id = cursor.fetchone()[0]
        cursor.execute(
            """
            SELECT a.id, a.file_number, d.first_name, d.last_name, o.name, a.default_date,
                   s.category, a.terminated_on, a.repossessed_on
            FROM accounts_account a
            JOIN accounts_debtor d ON d.id = a.debtor_id
            LEFT JOIN accounts_office o ON o.id = a.office_id
            LEFT JOIN accounts_accountstatus s ON s.id = a.status_id
            WHERE a.file_number = ANY(%s)
            """,
            [numbers],
        )
        found = {row[1]: row for row in cursor.fetchall()}
        values, params = [], []
        for line, number in enumerate(numbers, start=2):
            row = found.get(number)
            values.append("(%s, %s, %s, %s, %s, %s, NULL, %s)")
            params += [
                file_id, line, number, row[0] if row else None,
                f"{row[2]} {row[3]}" if row else "", (row[4] or "") if row else "",
                "" if row and row[6] == "default" else "x",
            ]  # fmt: skip
        cursor.execute(
            "INSERT INTO billing_writeofffilerow (file_id, line, reference, account_id,"
            " customer_name, office_name, days_since_default, reason) VALUES " + ", ".join(values),
            params,
        )
        transaction.set_rollback(True)


def bench_write_off_file_preview(repeat: int) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    from billing.models import WriteOffFile, WriteOffFileRow
    from bulkops.models import AuditEvent

    user = operator()
    text = _file_text()
    client = Client()
    client.force_login(user)
    url = reverse("billing:write-off-file-upload")
    statuses = []

    def preview():
        upload = SimpleUploadedFile("write-offs.csv", text.encode(), content_type="text/csv")
        statuses.append(client.post(url, {"file": upload}).status_code)

    product = time_ms(preview, repeat)
    written = WriteOffFile.objects.filter(uploaded_by=user).order_by("-pk").first()
    numbers = list(dict.fromkeys(line for line in text.splitlines()[1:] if line))
    baseline = time_ms(lambda: _baseline(numbers, user.pk), repeat)
    report = {
        "lines": len(text.splitlines()),
        "entries": written.entries,
        "eligible": written.eligible,
        "responses": sorted(set(statuses)),
        "preview": percentiles(product),
        "hand_written_select_and_insert": percentiles(baseline),
    }
    hand_written = report["hand_written_select_and_insert"]["p50_ms"]
    report["preview_vs_hand_written_p50"] = round(report["preview"]["p50_ms"] / hand_written, 2)
    report["target_p50_ms_under"] = 1000
    WriteOffFileRow.objects.filter(file__uploaded_by=user).delete()
    WriteOffFile.objects.filter(uploaded_by=user).delete()
    AuditEvent.objects.filter(actor=user, action="write_off_file.previewed").delete()
    return report
