"""The audit log at 5,000,000 events: the page (capped count + 50 newest
rows, their names and readable changes) as a company's supervisor, through
Django's whole handler stack in process, unfiltered and with each filter
the log offers an index for, against the same count + page as hand-written
SQL in the same run.

Events beyond those the seeded data and the other areas wrote are added
(set-based, over the seeded accounts, spread over a year and several
actors, a fifth of them naming one bulk operation) until there are
``events`` in all; they stay for later runs."""

from __future__ import annotations

import datetime as dt

from bench.harness import percentiles, time_ms, vacuum

EVENTS = 5_000_000
CAP = 10_000
SUPERVISOR = "northwind.supervisor"


def ensure_events(events: int) -> dict:
    """Add synthetic events until the table holds ``events``."""
    from django.db import connection

    from accounts.models import Account, User
    from bulkops.models import AuditEvent, BulkOperation

    present = AuditEvent.objects.count()
    if present >= events:
        return {"events": present, "added_in_this_run": 0}
    supervisor = User.objects.get(username=SUPERVISOR)
    actors = list(
        User.objects.filter(company=supervisor.company).order_by("pk").values_list("pk", flat=True)
    )
    operation, _ = BulkOperation.objects.get_or_create(
        idempotency_key="bench-audit",
        defaults={
            "kind": "change_status",
            "target": "accounts",
            "company": supervisor.company,
            "created_by": supervisor,
            "status": BulkOperation.Status.SUCCEEDED,
        },
    )
    low, high = (
        Account.objects.order_by("pk").values_list("pk", flat=True)[:1][0],
        (Account.objects.order_by("-pk").values_list("pk", flat=True)[:1][0]),
    )
    missing = events - present
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {AuditEvent._meta.db_table}
                (occurred_at, actor_id, action, object_type, object_id, changes,
                 bulk_operation_id, company_id)
            SELECT now() - g * interval '6 seconds',
                   (%(actors)s::bigint[])[1 + g %% cardinality(%(actors)s::bigint[])],
                   CASE WHEN g %% 3 = 0 THEN 'account.assigned' ELSE 'account.status_changed' END,
                   'accounts.account', a.id, '{{"status": [1, 2]}}'::jsonb,
                   CASE WHEN g %% 5 = 0 THEN %(operation)s END, a.company_id
            FROM generate_series(1, %(missing)s) g
            JOIN {Account._meta.db_table} a ON a.id = %(low)s + g %% (%(high)s - %(low)s + 1)
            """,
            {
                "actors": actors,
                "operation": operation.pk,
                "missing": missing,
                "low": low,
                "high": high,
            },
        )
    vacuum(AuditEvent._meta.db_table)
    return {"events": AuditEvent.objects.count(), "added_in_this_run": missing}


RAW_SQL = """
SELECT count(*) FROM (SELECT 1 FROM bulkops_auditevent e WHERE {where} LIMIT {cap} + 1) c;
"""
RAW_PAGE = """
SELECT e.id, e.occurred_at, e.action, e.object_type, e.object_id, e.changes,
       e.bulk_operation_id, u.first_name, u.last_name
FROM bulkops_auditevent e LEFT JOIN accounts_user u ON u.id = e.actor_id
WHERE {where} ORDER BY e.occurred_at DESC, e.id DESC LIMIT 50
"""


def bench_audit_log(repeat: int, events: int = EVENTS) -> dict:
    from django.db import connection
    from django.test import Client as HttpClient
    from django.utils import timezone

    from accounts.models import User
    from bulkops.models import BulkOperation

    seeded = ensure_events(events)
    supervisor = User.objects.get(username=SUPERVISOR)
    collector = User.objects.filter(company=supervisor.company).order_by("-pk").first()
    operation = BulkOperation.objects.get(idempotency_key="bench-audit")
    week_ago = timezone.localdate() - dt.timedelta(days=7)
    two_weeks_ago = week_ago - dt.timedelta(days=7)
    company = supervisor.company_id
    cases = [
        ("all of the company's events", "", f"e.company_id = {company}"),
        (
            "one user's events",
            f"actor={collector.pk}",
            f"e.company_id = {company} AND e.actor_id = {collector.pk}",
        ),
        (
            "one bulk operation's events",
            f"bulk_operation={operation.pk}",
            f"e.company_id = {company} AND e.bulk_operation_id = {operation.pk}",
        ),
        (
            "one week",
            f"occurred_after={two_weeks_ago}&occurred_before={week_ago}",
            f"e.company_id = {company} AND e.occurred_at >= '{two_weeks_ago}' "
            f"AND e.occurred_at < '{week_ago + dt.timedelta(days=1)}'",
        ),
    ]
    client = HttpClient()
    client.force_login(supervisor)
    results = []
    for name, query, where in cases:

        def page(url=f"/bulk/audit/?{query}"):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        def raw_sql(where=where):
            with connection.cursor() as cursor:
                cursor.execute(RAW_SQL.format(where=where, cap=CAP))
                cursor.fetchone()
                cursor.execute(RAW_PAGE.format(where=where))
                cursor.fetchall()

        with connection.cursor() as cursor:
            cursor.execute(RAW_SQL.format(where=where, cap=CAP))
            matching = cursor.fetchone()[0]
        django = percentiles(time_ms(page, repeat))
        sql = percentiles(time_ms(raw_sql, repeat))
        results.append(
            {
                "filter": name,
                "matching_events_up_to_cap": matching,
                "audit_log_page": django,
                "raw_sql_count_and_page": sql,
                "page_vs_raw_sql_ratio": round(django["p50_ms"] / sql["p50_ms"], 2),
            }
        )
    return {**seeded, "count_cap": CAP, "pages": results}
