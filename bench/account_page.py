"""``make bench``'s account page: one account of the seeded million given
5,000 Diary events (notes, interactions, tasks, audited changes, ledger
postings, promises), then its Account Details and Diary tabs through the
view as a browser asks for them (Django's test client in-process: the
middleware, the permission checks, the selectors, the templates), timed
(target: under 80 ms at the median) with their SQL query counts.

The baseline, in the same run: the Diary's first page by hand, one psycopg
``UNION ALL`` of the same tables ordered and limited as the view's, then
one ``SELECT`` per table for the page's rows, with no template. Every row
made is deleted afterwards."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bench.harness import percentiles, time_ms

EVENTS = {
    "note": 2000,
    "interaction": 1000,
    "task": 500,
    "audit": 1000,
    "ledger": 400,
    "promise": 100,
}

_UNION = """
SELECT * FROM (
  SELECT created_at AS at, 'note' AS ev, author_id AS actor, NULL::bigint AS claim, id
    FROM accounts_note WHERE account_id = %(a)s
  UNION ALL SELECT created_at, 'interaction', user_id, NULL::bigint, id
    FROM accounts_interaction WHERE account_id = %(a)s
  UNION ALL SELECT created_at, 'task', created_by_id, NULL::bigint, id
    FROM accounts_task WHERE account_id = %(a)s
  UNION ALL SELECT resolved_at, 'task_resolved', resolved_by_id, NULL::bigint, id
    FROM accounts_task WHERE account_id = %(a)s AND resolved_at IS NOT NULL
  UNION ALL SELECT occurred_at, 'audit', actor_id, NULL::bigint, id
    FROM bulkops_auditevent WHERE object_type = 'accounts.account' AND object_id = %(a)s
  UNION ALL SELECT posted_at, 'ledger', created_by_id, claim_id, id
    FROM billing_ledgerentry WHERE account_id = %(a)s
  UNION ALL SELECT created_at, 'promise', created_by_id, claim_id, id
    FROM billing_promisetopay WHERE account_id = %(a)s
  UNION ALL SELECT created_at, 'message', created_by_id, NULL::bigint, id
    FROM communications_message WHERE account_id = %(a)s
) diary ORDER BY at DESC, id DESC LIMIT 51
"""
_DETAILS = {
    "note": "SELECT id, body FROM accounts_note WHERE id = ANY(%s)",
    "interaction": "SELECT id, method, outcome_id FROM accounts_interaction WHERE id = ANY(%s)",
    "task": "SELECT id, due_date, notes FROM accounts_task WHERE id = ANY(%s)",
    "task_resolved": "SELECT id, resolution_note FROM accounts_task WHERE id = ANY(%s)",
    "audit": "SELECT id, action, changes FROM bulkops_auditevent WHERE id = ANY(%s)",
    "ledger": "SELECT id, kind, amount FROM billing_ledgerentry WHERE id = ANY(%s)",
    "promise": "SELECT id, amount, due_date FROM billing_promisetopay WHERE id = ANY(%s)",
    "message": "SELECT id, channel, state FROM communications_message WHERE id = ANY(%s)",
}


def _baseline(account_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_UNION, {"a": account_id})
        rows = cursor.fetchall()
        by_kind: dict[str, list[int]] = {}
        for _at, kind, _actor, _claim, pk in rows:
            by_kind.setdefault(kind, []).append(pk)
        for kind, ids in by_kind.items():
            cursor.execute(_DETAILS[kind], [ids])
            cursor.fetchall()
        return len(rows)


def _make_events(account, user) -> dict:
    """5,000 events on ``account`` over two years, by ``user``; what was made."""
    from django.utils import timezone

    from accounts.models import (
        DelinquencyReason,
        Interaction,
        InteractionOutcome,
        Note,
        Task,
        WorkQueue,
    )
    from billing.models import Claim, LedgerEntry, PromiseToPay
    from bulkops.models import AuditEvent

    now = timezone.now()

    def at(n: int, total: int) -> dt.datetime:
        return now - dt.timedelta(minutes=int(n * 2 * 365 * 24 * 60 / total))

    outcome = InteractionOutcome.objects.filter(company=None).first()
    reason = DelinquencyReason.objects.filter(company=None).first()
    queue, _ = WorkQueue.objects.get_or_create(company_id=account.company_id, name="Bench queue")
    claim = Claim.objects.filter(account=account).first()
    made = {
        "notes": Note.objects.bulk_create(
            Note(account=account, body=f"Note {n}", author=user, created_at=at(n, 2000))
            for n in range(EVENTS["note"])
        ),
        "interactions": Interaction.objects.bulk_create(
            Interaction(
                account=account,
                method="phone",
                outcome=outcome,
                direction="outbound",
                delinquency_reason=reason,
                user=user,
                created_at=at(n, 1000),
            )
            for n in range(EVENTS["interaction"])
        ),
        "tasks": Task.objects.bulk_create(
            Task(
                account=account,
                queue=queue,
                due_date=at(n, 500).date(),
                created_by=user,
                created_at=at(n, 500),
                updated_at=at(n, 500),
            )
            for n in range(EVENTS["task"])
        ),
        "audit": AuditEvent.objects.bulk_create(
            AuditEvent(
                occurred_at=at(n, 1000),
                actor=user,
                action="account.stage_updated",
                object_type="accounts.account",
                object_id=account.pk,
                changes={"stage": ["not_set", "sent"]},
                company_id=account.company_id,
            )
            for n in range(EVENTS["audit"])
        ),
        "ledger": LedgerEntry.objects.bulk_create(
            LedgerEntry(
                account=account,
                claim=claim,
                kind="adjustment",
                amount=Decimal("0.01") * (1 if n % 2 else -1),
                posted_at=at(n, 400),
                created_by=user,
            )
            for n in range(EVENTS["ledger"])
        ),
        "promises": PromiseToPay.objects.bulk_create(
            PromiseToPay(
                account=account,
                claim=claim,
                amount=Decimal("10.00"),
                due_date=at(n, 100).date(),
                created_by=user,
                created_at=at(n, 100),
            )
            for n in range(EVENTS["promise"])
        )
        if claim
        else [],
        "queue": queue,
    }
    return made


def _delete(made: dict) -> None:
    for key, rows in made.items():
        if key == "queue":
            continue
        if rows:
            type(rows[0]).objects.filter(pk__in=[r.pk for r in rows]).delete()
    made["queue"].delete()


def bench_account_page(repeat: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from accounts.models import Account, User
    from bench.harness import vacuum

    account = Account.objects.filter(claims__isnull=False).order_by("pk").first()
    supervisor = User.objects.filter(
        company_id=account.company_id, groups__name="Supervisor"
    ).first()
    made = _make_events(account, supervisor)
    vacuum(
        "accounts_note",
        "accounts_interaction",
        "accounts_task",
        "bulkops_auditevent",
        "billing_ledgerentry",
        "billing_promisetopay",
    )
    collector = User.objects.filter(company_id=account.company_id, groups__name="Collector").first()
    try:
        url = reverse("accounts:detail", args=[account.pk])
        results = {"events": sum(EVENTS.values()), "account_id": account.pk}
        # A collector (who works the account) and a supervisor (who also
        # sees the audit history and the contact preferences' forms).
        for role, user in (("collector", collector), ("supervisor", supervisor)):
            client = Client()
            client.force_login(user)
            for tab in ("details", "diary"):

                def get(tab=tab, client=client):
                    response = client.get(url, {"tab": tab})
                    assert response.status_code == 200, response.status_code

                with CaptureQueriesContext(connection) as queries:
                    get()
                # Counted now: the next request clears the connection's log.
                count = len(queries)
                results[f"{role}_{tab}"] = {
                    **percentiles(time_ms(get, repeat)),
                    "queries": count,
                }
        baseline = percentiles(time_ms(lambda: _baseline(account.pk), repeat))
        results["diary_hand_written_sql"] = baseline
        results["diary_p50_over_sql_p50"] = round(
            results["collector_diary"]["p50_ms"] / max(baseline["p50_ms"], 0.001), 1
        )
        results["target_p50_ms"] = 80
        return results
    finally:
        _delete(made)


# --- the Journal tab and its CSV ------------------------------------------------------

JOURNAL_ENTRIES, CSV_ENTRIES = 20_000, 100_000


def _journal_baseline(account_id: int) -> int:
    """The Journal's first page by hand, as the tab computes it: the page's
    50 newest entries with their claim, product and payment method, then
    the one sum that gives the running balance at its first row (the
    others follow from the amounts), in psycopg, no template."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.id, e.posted_at, e.kind, e.amount, e.context, e.description, c.reference,
                   COALESCE(st.name, s.service_name, ''), pm.label
            FROM billing_ledgerentry e
            LEFT JOIN billing_claim c ON c.id = e.claim_id
            LEFT JOIN billing_servicetype st ON st.id = c.service_type_id
            LEFT JOIN billing_subscription s ON s.id = c.subscription_id
            LEFT JOIN billing_paymentmethod pm ON pm.id = e.payment_method_id
            WHERE e.account_id = %s
            ORDER BY e.posted_at DESC, e.id DESC LIMIT 50
            """,
            [account_id],
        )
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT SUM(amount) FROM billing_ledgerentry WHERE account_id = %s"
            " AND (posted_at < %s OR (posted_at = %s AND id <= %s))",
            [account_id, rows[0][1], rows[0][1], rows[0][0]],
        )
        cursor.fetchone()
        return len(rows)


def _entries(account, n: int) -> list:
    from django.utils import timezone

    from billing.models import Claim, LedgerEntry

    claim = Claim.objects.filter(account=account).first()
    now = timezone.now()
    return LedgerEntry.objects.bulk_create(
        (
            LedgerEntry(
                account=account,
                claim=claim,
                kind="adjustment",
                amount=Decimal("0.01") * (1 if i % 2 else -1),
                posted_at=now - dt.timedelta(minutes=i),
                description=f"Bench entry {i}",
            )
            for i in range(n)
        ),
        batch_size=5000,
    )


def bench_journal(repeat: int) -> dict:
    """The Journal tab of an account with 20,000 entries (target: under
    80 ms at the median), and the CSV of one with 100,000 entries, its
    Python memory peak (tracemalloc) against the CSV of 10,000: flat
    memory is the same peak for ten times the rows."""
    import tracemalloc

    from django.test import Client
    from django.urls import reverse

    from accounts.models import Account, User
    from bench.harness import vacuum
    from billing.models import LedgerEntry

    accounts = list(Account.objects.filter(claims__isnull=False).order_by("pk")[1:3])
    user = User.objects.filter(company_id=accounts[0].company_id, groups__name="Collector").first()
    made = _entries(accounts[0], JOURNAL_ENTRIES)
    vacuum("billing_ledgerentry")
    try:
        client = Client()
        client.force_login(user)
        url = reverse("accounts:detail", args=[accounts[0].pk])

        def get():
            assert client.get(url, {"tab": "journal"}).status_code == 200

        results = {
            "entries": JOURNAL_ENTRIES,
            "journal_tab": percentiles(time_ms(get, repeat)),
            "journal_hand_written_sql": percentiles(
                time_ms(lambda: _journal_baseline(accounts[0].pk), repeat)
            ),
            "target_p50_ms": 80,
        }
        results["journal_p50_over_sql_p50"] = round(
            results["journal_tab"]["p50_ms"]
            / max(results["journal_hand_written_sql"]["p50_ms"], 0.001),
            1,
        )
    finally:
        LedgerEntry.objects.filter(pk__in=[e.pk for e in made]).delete()

    csv_user = User.objects.filter(
        company_id=accounts[1].company_id, groups__name="Collector"
    ).first()
    client = Client()
    client.force_login(csv_user)
    csv_url = reverse("billing:journal-csv", args=[accounts[1].pk])
    peaks = {}
    made = []
    try:
        for size in (CSV_ENTRIES // 10, CSV_ENTRIES):
            made += _entries(accounts[1], size - len(made))
            vacuum("billing_ledgerentry")
            tracemalloc.start()
            started = dt.datetime.now()
            response = client.get(csv_url)
            written = sum(len(chunk) for chunk in response.streaming_content)
            seconds = (dt.datetime.now() - started).total_seconds()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            peaks[size] = {
                "bytes": written,
                "seconds": round(seconds, 2),
                "peak_mib": round(peak / 2**20, 2),
            }
    finally:
        LedgerEntry.objects.filter(pk__in=[e.pk for e in made]).delete()
    results["csv"] = {str(k): v for k, v in peaks.items()}
    results["csv_peak_ratio_100k_to_10k"] = round(
        peaks[CSV_ENTRIES]["peak_mib"] / max(peaks[CSV_ENTRIES // 10]["peak_mib"], 0.001), 2
    )
    return results
