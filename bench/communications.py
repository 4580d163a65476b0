"""Communications (issue 13), three parts, each against a baseline measured
in the same run:

* **Schedule Emails to every account**, end to end through the engine (the
  confirmation's snapshot, then a worker process running every chunk, which
  queues one rendered email per debtor with a usable primary address),
  against one hand-written ``INSERT ... SELECT`` producing the same message
  rows, the template filled in by SQL string concatenation, rolled back.
  Every engine row is then compared with the hand-written ``SELECT``'s.
  PostgreSQL only.
* **Email dispatch** of messages already queued, by a worker process calling
  ``communications.dispatch.send_due_messages`` (what the beat task calls)
  until all are sent, through Django's SMTP backend to aiosmtpd on loopback
  (``collections_app.devservers.smtp``, in a process of its own), against a
  bare ``smtplib`` loop sending the same messages over one connection to the
  same server. The office limit is set high enough not to hold any.
* **SMS dispatch** through Twilio's client to the loopback Twilio server
  (``collections_app.devservers.twilio``, in a process of its own): first
  with the office's limit (6,000 a minute), counted per calendar minute as
  the requests arrive at the server, then with no limit to speak of, against
  a bare ``requests.Session`` loop posting the same messages.

The messages are made for accounts of the seeded data whose primary email or
phone can be used (not invalid, consented to, not opted out: what the gate
checks when it sends), cycling through them when there are fewer than
messages. Everything the bench adds is removed afterwards and the offices'
limits are put back."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import smtplib
import time
from email.message import EmailMessage
from email.utils import formatdate

from bench.harness import WorkerProcess, operator, vacuum
from bench.loopback import LoopbackServer
from communications.placeholders import OPT_OUT_LINK_MARKER

# What the full run (1,000,000 accounts) sends; smaller runs scale them down
# (``sizes``), so that a quick run is quick.
EMAILS = 50_000
SMS = 20_000
SMS_PER_MINUTE = 6_000
FULL_RUN_ACCOUNTS = 1_000_000

# An office limit that holds nothing back (the limiter still counts).
NO_LIMIT = 1_000_000_000
# Workers sending under the office's limit at once, as ``docker compose up
# --scale worker=3`` runs them: the limit is the office's, shared by every
# worker, and one worker alone sends fewer SMS a second on this machine than
# 6,000 a minute would let through, so it would never meet the limit.
LIMITED_WORKERS = 3
# A minute "at the limit" is one within 2% below it.
AT_LIMIT = 0.98

TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM = "AC" + "b" * 32, "bench-auth-token", "+15005550006"

# The bench's email template: a few placeholders the hand-written SQL fills
# in by concatenation (``_sql_render``), so that both make the same rows.
TEMPLATE_NAME = "Bench reminder"
TEMPLATE = {
    "subject": "Your account {{fileNumber}} with {{companyName}}",
    "text_body": (
        "Dear {{debtorFirstName}} {{debtorLastName}},\n\n"
        "Please contact {{companyName}} about account {{fileNumber}}.\n"
        "Stop emails: {{optOutLink}}\n"
    ),
    "html_body": (
        "<p>Dear {{debtorFirstName}} {{debtorLastName}},</p>\n"
        "<p>Please contact {{companyName}} about account {{fileNumber}}.</p>\n"
        '<p><a href="{{optOutLink}}">Stop emails</a></p>\n'
    ),
}
SMS_TEXT = (
    "{{companyName}}: {{debtorFirstName}}, please call us about {{fileNumber}}. "
    "Reply STOP to opt out."
)

# Each placeholder of the bench's templates as SQL, over the baseline's joins.
SQL_VALUES = {
    "debtorFirstName": "d.first_name",
    "debtorLastName": "d.last_name",
    "fileNumber": "a.file_number",
    "companyName": "c.name",
    # The marker the dispatch replaces with each email's own link.
    "optOutLink": f"'{OPT_OUT_LINK_MARKER}'",
}
# django.utils.html.escape, in SQL.
SQL_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;"))

# The accounts whose debtor can be emailed (what Schedule Emails queues and
# the gate lets through), one per debtor (the first of its accounts).
USABLE_EMAILS = """
FROM accounts_account a
JOIN accounts_debtor d ON d.id = a.debtor_id
JOIN accounts_company c ON c.id = a.company_id
JOIN accounts_debtoremail e ON e.debtor_id = a.debtor_id AND e.is_primary
WHERE e.validity <> 'invalid' AND e.email_consent AND NOT e.email_opted_out
"""
BASELINE_SELECT = """
SELECT DISTINCT ON (a.debtor_id)
       a.company_id, a.id AS account_id, 'email' AS channel, %s::bigint AS template_version_id,
       e.address AS "to", {subject} AS subject, {text} AS text, {html} AS html,
       'queued' AS state, %s::timestamptz AS send_after, '' AS rule, '' AS reason,
       '' AS provider_id, '' AS error, 0 AS attempts, false AS ignore_rate_limit,
       false AS ignore_contact_preferences,
       %s::bigint AS created_by_id, NULL::bigint AS bulk_operation_id,
       now() AS created_at, now() AS state_changed_at, NULL::timestamptz AS sent_at
{usable}
ORDER BY a.debtor_id, a.id
"""
BASELINE_COLUMNS = (
    'company_id, account_id, channel, template_version_id, "to", subject, text, html, state, '
    "send_after, rule, reason, provider_id, error, attempts, ignore_rate_limit, "
    "ignore_contact_preferences, created_by_id, "
    "bulk_operation_id, created_at, state_changed_at, sent_at"
)
# What must be equal between a baseline row and the engine's.
COMPARED = (
    'company_id, account_id, channel, template_version_id, "to", subject, text, html, state, '
    "send_after"
)


def sizes(accounts: int, emails=None, sms=None, sms_per_minute=None) -> dict:
    """The messages to send: the full run's, or for a smaller data set the
    same in proportion, with floors that keep a few minutes of the limit."""
    scale = min(1.0, accounts / FULL_RUN_ACCOUNTS)
    return {
        "emails": emails or max(2_000, round(EMAILS * scale)),
        "sms": sms or max(600, round(SMS * scale)),
        "sms_per_minute": sms_per_minute or max(250, round(SMS_PER_MINUTE * scale)),
    }


# --- set-up and clean-up --------------------------------------------------------------------


def _bench_template():
    """The bench's email template (Northwind's), made once."""
    from accounts.models import Company
    from communications.models import MessageTemplate, MessageTemplateVersion

    company = Company.objects.get(name="Northwind Recovery")
    template, created = MessageTemplate.objects.get_or_create(
        company=company,
        channel="email",
        name=TEMPLATE_NAME,
        locale="en-US",
        defaults={**TEMPLATE, "is_active": True},
    )
    if created:
        MessageTemplateVersion.objects.create(template=template, version=1, **TEMPLATE)
    elif any(getattr(template, name) != value for name, value in TEMPLATE.items()):
        # An earlier bench's, from before its content changed: a new version.
        for name, value in TEMPLATE.items():
            setattr(template, name, value)
        template.version += 1
        template.save()
        MessageTemplateVersion.objects.create(
            template=template, version=template.version, **TEMPLATE
        )
    version = template.versions.order_by("-version").first()
    return template, version


def _remove_bench_messages() -> int:
    """Every message the bench made (its operator's), with their events."""
    from django.db import connection, transaction

    user = operator()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM communications_messageevent WHERE message_id IN "
            "(SELECT id FROM communications_message WHERE created_by_id = %s)",
            [user.pk],
        )
        cursor.execute("DELETE FROM communications_message WHERE created_by_id = %s", [user.pk])
        return cursor.rowcount


def _refuse_other_due_messages() -> None:
    """The sending worker sends whatever is due: the bench's database must
    have nothing else waiting, or the figures would count it."""
    from communications.models import Message, MessageState

    others = Message.objects.filter(state__in=[MessageState.QUEUED, MessageState.HELD]).count()
    if others:
        raise RuntimeError(
            f"{others} queued or held messages that the bench did not make are in its "
            "database: the sending worker would send them too. Cancel or delete them first."
        )


class OfficeLimits:
    """Sets offices' Max Per Minute for a part, and puts them back."""

    def __init__(self, limits: dict[int, int]):
        self.limits = limits

    def __enter__(self):
        from accounts.models import Office

        self.before = dict(Office.objects.values_list("pk", "max_messages_per_minute"))
        for pk, limit in self.limits.items():
            Office.objects.filter(pk=pk).update(max_messages_per_minute=limit)
        return self

    def __exit__(self, *exc):
        from accounts.models import Office

        for pk, limit in self.before.items():
            Office.objects.filter(pk=pk).update(max_messages_per_minute=limit)


def _forget_counts(office_id: int, channel: str) -> None:
    """The limiter's counts of this office and channel, so that a minute
    starts at zero (an earlier part, or run, may have counted in it)."""
    import redis
    from django.conf import settings

    from communications.models import SendWindow

    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(f"collections:send-rate:{office_id}:{channel}:*"):
            client.delete(key)
    SendWindow.objects.filter(office_id=office_id, channel=channel).delete()


def _queue(rows: list[dict]) -> tuple[int, int]:
    """Queue these messages (due now) as the bench's operator: (first id, last id)."""
    from django.utils import timezone

    from communications.models import Message

    user = operator()
    now = timezone.now()
    created = Message.objects.bulk_create(
        [Message(**row, created_by=user, send_after=now) for row in rows], batch_size=5000
    )
    ids = [m.pk for m in created]
    return min(ids), max(ids)


def _states(first_id: int, last_id: int) -> dict[str, int]:
    from django.db.models import Count

    from communications.models import Message

    return dict(
        Message.objects.filter(pk__gte=first_id, pk__lte=last_id)
        .values_list("state")
        .annotate(n=Count("pk"))
        .order_by("state")
    )


def _events(first_id: int, last_id: int) -> dict[str, int]:
    from django.db.models import Count

    from communications.models import MessageEvent

    return dict(
        MessageEvent.objects.filter(message_id__gte=first_id, message_id__lte=last_id)
        .values_list("state")
        .annotate(n=Count("pk"))
        .order_by("state")
    )


def _send(env: dict[str, str], first_id: int, last_id: int, workers: int = 1) -> dict:
    """Sending workers, started before the clock, send them all, at once:
    the slowest one's seconds, their CPU seconds and messages taken summed,
    the largest peak memory."""
    processes = [WorkerProcess("bench.run_dispatch", env=env) for _ in range(workers)]
    for process in processes:
        process.start(f"{first_id} {last_id}")
    results = [json.loads(process.finish()) for process in processes]
    return {
        "workers": workers,
        "seconds": max(r["seconds"] for r in results),
        "stalled": any(r["stalled"] for r in results),
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in results), 1),
        "taken": sum(r["taken"] for r in results),
        "calls": sum(r["calls"] for r in results),
        "peak_memory_mb": max(r["peak_memory_mb"] for r in results),
    }


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds else 0.0


# --- 1. Schedule Emails to every account -----------------------------------------------------


def _sql_render(text: str, *, html: bool) -> tuple[str, list[str]]:
    """A template as one SQL concatenation: its literal parts as parameters,
    its placeholders as columns (escaped in HTML)."""
    from communications.rendering import PLACEHOLDER

    parts, params, last = [], [], 0
    for match in PLACEHOLDER.finditer(text):
        if match.start() > last:
            parts.append("%s::text")
            params.append(text[last : match.start()])
        column = SQL_VALUES[match.group(1)]
        if html:
            for raw, escaped in SQL_ESCAPES:
                quoted = raw.replace("'", "''")
                column = f"replace({column}, '{quoted}', '{escaped}')"
        parts.append(column)
        last = match.end()
    if last < len(text):
        parts.append("%s::text")
        params.append(text[last:])
    return " || ".join(parts) or "''", params


def _baseline_select(version, send_after, created_by_id) -> tuple[str, list]:
    subject, subject_params = _sql_render(version.subject, html=False)
    text, text_params = _sql_render(version.text_body, html=False)
    html, html_params = _sql_render(version.html_body, html=True)
    sql = BASELINE_SELECT.format(subject=subject, text=text, html=html, usable=USABLE_EMAILS)
    params = [version.pk, *subject_params, *text_params, *html_params, send_after, created_by_id]
    return sql, params


def _schedule_baseline(version, send_after, created_by_id) -> tuple[int, float]:
    """The same message rows in one INSERT ... SELECT, foreign keys checked
    as a commit would, rolled back: (rows, seconds)."""
    from django.db import connection, transaction

    select_sql, params = _baseline_select(version, send_after, created_by_id)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO communications_message ({BASELINE_COLUMNS}) {select_sql}", params
        )
        rows = cursor.rowcount
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return rows, seconds


def _differences(operation, version, send_after, created_by_id) -> dict[str, int]:
    """Rows the hand-written SELECT makes that the engine did not, and the
    reverse (both 0: the same rows)."""
    from django.db import connection

    select_sql, params = _baseline_select(version, send_after, created_by_id)
    engine = f"SELECT {COMPARED} FROM communications_message WHERE bulk_operation_id = %s"
    baseline = f"SELECT {COMPARED} FROM ({select_sql}) b"
    counts = {}
    with connection.cursor() as cursor:
        for name, sql, sql_params in (
            ("only_in_baseline", f"{baseline} EXCEPT {engine}", [*params, operation.pk]),
            ("only_in_engine", f"{engine} EXCEPT {baseline}", [operation.pk, *params]),
        ):
            cursor.execute(f"SELECT count(*) FROM ({sql}) x", sql_params)
            counts[name] = cursor.fetchone()[0]
    return counts


def bench_schedule_emails() -> dict:
    from django.db import connection
    from django.db.models import Count
    from django.http import QueryDict
    from django.utils import timezone

    from accounts.models import Account
    from bulkops.models import AuditEvent, BulkOperation, BulkOperationItem
    from bulkops.selection import Selection
    from bulkops.services import start_operation
    from communications.models import Message

    if connection.vendor != "postgresql":
        return {"skipped": "PostgreSQL only (the baseline is PostgreSQL's INSERT ... SELECT)."}
    _remove_bench_messages()
    platform_operator = operator()
    template, version = _bench_template()
    total = Account.objects.count()
    # "Now", as the dialog offers it: the batch is queued at once, not scheduled.
    send_at = timezone.localtime().replace(second=0, microsecond=0)

    vacuum("communications_message")
    baseline_rows, baseline_seconds = _schedule_baseline(version, send_at, platform_operator.pk)
    vacuum("communications_message", "bulkops_bulkoperationitem")

    worker = WorkerProcess()
    started = time.perf_counter()
    operation = start_operation(
        user=platform_operator,
        action_key="schedule_emails",
        selection=Selection.for_filters("accounts", QueryDict()).select_all(),
        confirmed_count=total,
        data={"send_at": send_at.strftime("%Y-%m-%dT%H:%M"), "template": str(template.pk)},
        idempotency_key=f"bench-schedule-{time.time_ns()}",
    )
    snapshot_seconds = time.perf_counter() - started
    state, peak_mb = worker.run(operation.pk)
    seconds = time.perf_counter() - started
    operation.refresh_from_db()
    messages = Message.objects.filter(bulk_operation=operation).count()
    differences = _differences(operation, version, send_at, platform_operator.pk)
    skipped = dict(
        BulkOperationItem.objects.filter(operation=operation, outcome="skipped")
        .values_list("reason")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )

    _remove_bench_messages()
    AuditEvent.objects.filter(bulk_operation=operation).delete()
    BulkOperation.objects.filter(pk=operation.pk).delete()

    engine_rate = _rate(messages, seconds)
    baseline_rate = _rate(baseline_rows, baseline_seconds)
    return {
        "accounts": total,
        "template": {"name": TEMPLATE_NAME, **TEMPLATE},
        "final_state": state,
        "messages_queued": messages,
        "accounts_skipped": operation.skipped,
        "skipped_by_reason": skipped,
        "failed": operation.failed,
        "end_to_end_seconds": round(seconds, 1),
        "snapshot_seconds": round(snapshot_seconds, 1),
        "worker_peak_memory_mb": float(peak_mb),
        "engine_messages_per_second": engine_rate,
        "insert_select_rows": baseline_rows,
        "insert_select_seconds": round(baseline_seconds, 1),
        "insert_select_messages_per_second": baseline_rate,
        "rows_differing_from_insert_select": differences,
        "throughput_vs_insert_select": round(engine_rate / baseline_rate, 2)
        if baseline_rate
        else None,
        "target_ratio": 0.6,
    }


# --- 2. Email dispatch -----------------------------------------------------------------------


def _email_rows(count: int) -> list[dict]:
    """``count`` emails of the bench's template, rendered, to the accounts
    whose debtor can be emailed (each once, then again from the first)."""
    from django.db import connection

    from communications import rendering

    _template, version = _bench_template()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, a.company_id, e.address, d.first_name, d.last_name, a.file_number, "
            f"c.name {USABLE_EMAILS} ORDER BY a.id LIMIT %s",
            [count],
        )
        recipients = cursor.fetchall()
    rows = []
    for account_id, company_id, address, first, last, file_number, company in itertools.islice(
        itertools.cycle(recipients), count
    ):
        values = {
            "debtorFirstName": first,
            "debtorLastName": last,
            "fileNumber": file_number,
            "companyName": company,
            "optOutLink": OPT_OUT_LINK_MARKER,
        }
        rows.append(
            {
                "company_id": company_id,
                "account_id": account_id,
                "channel": "email",
                "template_version": version,
                "to": address,
                "subject": rendering.render(version.subject, values),
                "text": rendering.render(version.text_body, values),
                "html": rendering.render(version.html_body, values, html=True),
            }
        )
    return rows


def _smtp_loop(port: int, emails: list[tuple[str, str, str, str, str, str]]) -> float:
    """The same emails (the same headers and bodies as Django makes, their
    opt-out links made beforehand) over one smtplib connection: seconds."""
    from django.conf import settings

    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as connection:
        for to, subject, text, html, message_id, opt_out_url in emails:
            email = EmailMessage()
            email["Subject"] = subject
            email["From"] = settings.DEFAULT_FROM_EMAIL
            email["To"] = to
            email["Date"] = formatdate(localtime=True)
            email["Message-ID"] = message_id
            email["List-Unsubscribe"] = f"<{opt_out_url}>"
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            email.set_content(text)
            email.add_alternative(html, subtype="html")
            connection.send_message(email)
    return time.perf_counter() - started


def bench_email_dispatch(count: int) -> dict:
    from django.utils.html import escape

    from accounts.models import Office
    from communications import optout
    from communications.models import Message

    _remove_bench_messages()
    _refuse_other_due_messages()
    rows = _email_rows(count)
    with (
        OfficeLimits(dict.fromkeys(Office.objects.values_list("pk", flat=True), NO_LIMIT)),
        LoopbackServer("smtp") as server,
    ):
        first_id, last_id = _queue(rows)
        vacuum("communications_message")
        emails = [
            (
                m.to,
                m.subject,
                m.text.replace(OPT_OUT_LINK_MARKER, url),
                m.html.replace(OPT_OUT_LINK_MARKER, escape(url)),
                m.message_id_header,
                url,
            )
            for m in Message.objects.filter(pk__gte=first_id, pk__lte=last_id).order_by("pk")
            for url in [optout.url_for(m)]
        ]
        env = {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": server.address,
            "EMAIL_USE_TLS": "false",
            "TWILIO_ACCOUNT_SID": "",  # email only
        }
        sent = _send(env, first_id, last_id)
        received = server.stats()
        server.reset()
        baseline_seconds = _smtp_loop(int(server.address), emails)
        baseline_received = server.stats()
    states = _states(first_id, last_id)
    _remove_bench_messages()

    product_rate = _rate(received["received"], sent["seconds"])
    baseline_rate = _rate(baseline_received["received"], baseline_seconds)
    return {
        "emails": count,
        "workers": sent["workers"],
        "stalled": sent["stalled"],
        "dispatch_seconds": round(sent["seconds"], 1),
        "worker_cpu_seconds": sent["cpu_seconds"],
        "dispatch_emails_per_second": product_rate,
        "send_due_messages_calls": sent["calls"],
        "final_states": states,
        "received_by_server": received["received"],
        "distinct_message_ids_received": received["distinct"],
        "worker_peak_memory_mb": sent["peak_memory_mb"],
        "target_peak_memory_mb": 300,
        "smtplib_seconds": round(baseline_seconds, 1),
        "smtplib_emails_per_second": baseline_rate,
        "smtplib_received_by_server": baseline_received["received"],
        "throughput_vs_smtplib": round(product_rate / baseline_rate, 2) if baseline_rate else None,
        "target_ratio": 0.7,
    }


# --- 3. SMS dispatch, under the office's limit and without -----------------------------------


def _sms_office():
    """The office with the most accounts."""
    from django.db.models import Count

    from accounts.models import Office

    return Office.objects.annotate(n=Count("accounts")).order_by("-n", "pk").first()


def _sms_rows(office, count: int) -> list[dict]:
    """``count`` SMS to the office's accounts whose primary phone can take
    one (each once, then again from the first)."""
    from django.db import connection

    from communications import rendering

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, a.company_id, p.number, d.first_name, a.file_number, c.name
            FROM accounts_account a
            JOIN accounts_debtor d ON d.id = a.debtor_id
            JOIN accounts_company c ON c.id = a.company_id
            JOIN accounts_debtorphone p ON p.debtor_id = a.debtor_id AND p.is_primary
            WHERE a.office_id = %s AND p.validity <> 'invalid' AND p.sms_consent
              AND NOT p.sms_opted_out
            ORDER BY a.id LIMIT %s
            """,
            [office.pk, count],
        )
        recipients = cursor.fetchall()
    rows = []
    for account_id, company_id, number, first, file_number, company in itertools.islice(
        itertools.cycle(recipients), count
    ):
        values = {"debtorFirstName": first, "fileNumber": file_number, "companyName": company}
        rows.append(
            {
                "company_id": company_id,
                "account_id": account_id,
                "channel": "sms",
                "to": number,
                "text": rendering.render(SMS_TEXT, values),
            }
        )
    return rows


def _twilio_env(url: str) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "TWILIO_API_BASE": url,
        "TWILIO_STATUS_CALLBACK_URL": "",
        # Nothing else is due (checked); no email could reach stdout.
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }


def _minute(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def _requests_loop(url: str, messages: list[tuple[str, str]]) -> float:
    """The same SMS posted to the same server with one requests.Session, as
    Twilio's API takes them: seconds."""
    import requests

    endpoint = f"{url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    started = time.perf_counter()
    with requests.Session() as session:
        session.auth = (TWILIO_SID, TWILIO_TOKEN)
        for to, body in messages:
            response = session.post(endpoint, data={"To": to, "From": TWILIO_FROM, "Body": body})
            response.raise_for_status()
            response.json()["sid"]
    return time.perf_counter() - started


def bench_sms_dispatch(count: int, per_minute: int) -> dict:
    from communications.models import Message

    _remove_bench_messages()
    _refuse_other_due_messages()
    office = _sms_office()
    rows = _sms_rows(office, count)
    with LoopbackServer("twilio", TWILIO_SID, TWILIO_TOKEN) as server:
        # Under the office's limit, measured at the server.
        with OfficeLimits({office.pk: per_minute}):
            _forget_counts(office.pk, "sms")
            first_id, last_id = _queue(rows)
            limited = _send(_twilio_env(server.address), first_id, last_id, workers=LIMITED_WORKERS)
        arrived = server.stats()
        limited_states = _states(first_id, last_id)
        limited_events = _events(first_id, last_id)
        _remove_bench_messages()
        server.reset()

        # Without a limit to speak of, against requests.Session.
        with OfficeLimits({office.pk: NO_LIMIT}):
            first_id, last_id = _queue(rows)
            vacuum("communications_message", "communications_messageevent")
            texts = list(
                Message.objects.filter(pk__gte=first_id, pk__lte=last_id)
                .order_by("pk")
                .values_list("to", "text")
            )
            unlimited = _send(_twilio_env(server.address), first_id, last_id)
        unlimited_arrived = server.stats()
        unlimited_states = _states(first_id, last_id)
        _remove_bench_messages()
        server.reset()
        baseline_seconds = _requests_loop(server.address, texts)
        baseline_arrived = server.stats()

    minutes = [{"minute": _minute(m), "received": n} for m, n in arrived["per_minute"]]
    most = max((m["received"] for m in minutes), default=0)
    product_rate = _rate(unlimited_arrived["received"], unlimited["seconds"])
    baseline_rate = _rate(baseline_arrived["received"], baseline_seconds)
    return {
        "office": office.name,
        "sms": count,
        "limited": {
            "max_per_minute": per_minute,
            "workers": limited["workers"],
            "stalled": limited["stalled"],
            "seconds": round(limited["seconds"], 1),
            "received_by_server": arrived["received"],
            "per_calendar_minute_at_server": minutes,
            "most_in_a_minute": most,
            "most_vs_limit": round(most / per_minute, 3),
            "target_most_vs_limit": 1.02,
            # Whether the limit was met at all (else it held only because the
            # workers were slower than it): minutes that reached 98% of it.
            "minutes_at_the_limit": sum(m["received"] >= AT_LIMIT * per_minute for m in minutes),
            "final_states": limited_states,
            "events": limited_events,
            "workers_cpu_seconds": limited["cpu_seconds"],
            "worker_peak_memory_mb": limited["peak_memory_mb"],
        },
        "unlimited": {
            "workers": unlimited["workers"],
            "stalled": unlimited["stalled"],
            "seconds": round(unlimited["seconds"], 1),
            "worker_cpu_seconds": unlimited["cpu_seconds"],
            "sms_per_second": product_rate,
            "received_by_server": unlimited_arrived["received"],
            "final_states": unlimited_states,
            "worker_peak_memory_mb": unlimited["peak_memory_mb"],
            "requests_session_seconds": round(baseline_seconds, 1),
            "requests_session_sms_per_second": baseline_rate,
            "requests_session_received_by_server": baseline_arrived["received"],
            "throughput_vs_requests_session": round(product_rate / baseline_rate, 2)
            if baseline_rate
            else None,
            "target_ratio": 0.7,
        },
    }
