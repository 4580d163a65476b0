"""``make bench``'s Write Off Balances on every account, end to end: the
confirmation's snapshot, then a worker process running every chunk (the
coupons posted, the claims cleared and marked written off, the balances
zeroed, each with its audit). Baseline, in the same run: the same rows as
hand-written set-based SQL (the credits per claim and for what no claim
holds, the claims' and the accounts' updates, the audit rows, foreign keys
checked as a commit would), rolled back. ``check_balances``'s query runs on
the result. The balances, claims and ledger are put back afterwards, so
the bench can run again on the same data."""

from __future__ import annotations

import time

from bench.harness import WorkerProcess, operator, vacuum

TABLES = (
    "accounts_account", "billing_claim", "billing_ledgerentry", "bulkops_auditevent",
    "bulkops_bulkoperationitem",
)  # fmt: skip

# The credits Write Off Balances posts: per claim with a balance, in claim
# order, never more than the account still owes; then one for what no
# claim holds.
CREDITS = """
WITH owed AS (
    SELECT id, company_id, current_balance FROM accounts_account WHERE current_balance > 0
),
claims AS (
    SELECT c.id, c.account_id, c.balance, o.current_balance AS owed,
           coalesce(sum(c.balance) OVER (PARTITION BY c.account_id ORDER BY c.id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
    FROM billing_claim c JOIN owed o ON o.id = c.account_id
    WHERE c.balance > 0
),
claim_credits AS (
    SELECT id AS claim_id, account_id, least(balance, owed - before) AS amount, balance
    FROM claims WHERE owed - before > 0
),
rest AS (
    SELECT o.id AS account_id, o.current_balance - coalesce(sum(cc.amount), 0) AS amount
    FROM owed o LEFT JOIN claim_credits cc ON cc.account_id = o.id
    GROUP BY o.id, o.current_balance
),
entries AS (
    INSERT INTO billing_ledgerentry
        (kind, amount, context, description, posted_at, account_id, claim_id, created_by_id)
    SELECT 'credit', -amount, 'bulk', 'Write Off Balances', now(), account_id, claim_id, %(actor)s
    FROM claim_credits
    UNION ALL
    SELECT 'credit', -amount, 'bulk', 'Write Off Balances', now(), account_id, NULL, %(actor)s
    FROM rest WHERE amount > 0
    RETURNING 1
),
claim_audit AS (
    INSERT INTO bulkops_auditevent
        (occurred_at, action, object_type, object_id, changes, actor_id, company_id)
    SELECT now(), 'claim.written_off', 'billing.claim', cc.claim_id,
           jsonb_build_object('status', jsonb_build_array(c.status, 'written_off')),
           %(actor)s, a.company_id
    FROM claim_credits cc
    JOIN billing_claim c ON c.id = cc.claim_id
    JOIN accounts_account a ON a.id = cc.account_id
    WHERE cc.amount = cc.balance AND c.status <> 'written_off'
    RETURNING 1
),
claim_update AS (
    UPDATE billing_claim c
    SET balance = c.balance - cc.amount,
        status = CASE WHEN cc.amount = cc.balance THEN 'written_off' ELSE c.status END
    FROM claim_credits cc WHERE c.id = cc.claim_id
    RETURNING 1
),
account_audit AS (
    INSERT INTO bulkops_auditevent
        (occurred_at, action, object_type, object_id, changes, actor_id, company_id)
    SELECT now(), 'ledger.credit', 'accounts.account', o.id,
           jsonb_build_object('current_balance', jsonb_build_array(o.current_balance::text, '0.00')),
           %(actor)s, o.company_id
    FROM owed o
    RETURNING 1
)
UPDATE accounts_account a SET current_balance = 0 FROM owed o WHERE a.id = o.id
"""


def _save_state(cursor) -> None:
    cursor.execute("DROP TABLE IF EXISTS bench_write_off_accounts, bench_write_off_claims")
    cursor.execute(
        "CREATE TABLE bench_write_off_accounts AS SELECT id, current_balance FROM accounts_account"
    )
    cursor.execute(
        "CREATE TABLE bench_write_off_claims AS SELECT id, balance, status FROM billing_claim"
    )


def _restore(cursor, operation_id: int) -> None:
    cursor.execute("DELETE FROM billing_ledgerentry WHERE bulk_operation_id = %s", [operation_id])
    cursor.execute("DELETE FROM bulkops_auditevent WHERE bulk_operation_id = %s", [operation_id])
    cursor.execute(
        "UPDATE accounts_account a SET current_balance = s.current_balance"
        " FROM bench_write_off_accounts s WHERE s.id = a.id"
        " AND a.current_balance IS DISTINCT FROM s.current_balance"
    )
    cursor.execute(
        "UPDATE billing_claim c SET balance = s.balance, status = s.status"
        " FROM bench_write_off_claims s WHERE s.id = c.id"
        " AND (c.balance, c.status) IS DISTINCT FROM (s.balance, s.status)"
    )
    cursor.execute("DROP TABLE bench_write_off_accounts, bench_write_off_claims")


def _baseline(actor_id: int) -> tuple[int, float]:
    """(accounts written off, seconds) of the hand-written SQL, rolled back."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CREDITS, {"actor": actor_id})
        rows = cursor.rowcount
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return rows, seconds


def bench_write_off_all() -> dict:
    from django.db import connection
    from django.http import QueryDict

    from accounts.models import Account
    from billing.models import LedgerEntry
    from billing.selectors import find_balance_discrepancies
    from bulkops.models import AuditEvent, BulkOperation
    from bulkops.selection import Selection
    from bulkops.services import start_operation

    if connection.vendor != "postgresql":
        return {"skipped": "PostgreSQL only (the baseline is PostgreSQL's SQL)."}
    user = operator()
    total = Account.objects.count()
    owing = Account.objects.filter(current_balance__gt=0).count()
    with connection.cursor() as cursor:
        _save_state(cursor)
    vacuum(*TABLES)
    baseline_rows, baseline_seconds = _baseline(user.pk)
    vacuum(*TABLES)

    worker = WorkerProcess()
    started = time.perf_counter()
    operation = start_operation(
        user=user,
        action_key="write_off",
        selection=Selection.for_filters("accounts", QueryDict()).select_all(),
        confirmed_count=total,
        data={"note": ""},
        idempotency_key=f"bench-write-off-{time.time_ns()}",
    )
    snapshot_seconds = time.perf_counter() - started
    state, peak_mb = worker.run(operation.pk)
    seconds = time.perf_counter() - started
    operation.refresh_from_db()
    entries = LedgerEntry.objects.filter(bulk_operation=operation).count()
    audit_rows = AuditEvent.objects.filter(bulk_operation=operation).count()
    checked = time.perf_counter()
    discrepancies = len(find_balance_discrepancies())
    check_seconds = time.perf_counter() - checked
    with connection.cursor() as cursor:
        _restore(cursor, operation.pk)
    BulkOperation.objects.filter(pk=operation.pk).delete()
    vacuum(*TABLES)

    engine_rate = operation.succeeded / seconds if seconds else 0
    baseline_rate = baseline_rows / baseline_seconds if baseline_seconds else 0
    return {
        "accounts": total,
        "accounts_owing": owing,
        "final_state": state,
        "written_off": operation.succeeded,
        "skipped": operation.skipped,
        "failed": operation.failed,
        "ledger_entries": entries,
        "audit_rows": audit_rows,
        "end_to_end_seconds": round(seconds, 1),
        "snapshot_seconds": round(snapshot_seconds, 1),
        "worker_peak_memory_mb": float(peak_mb),
        "engine_accounts_per_second": round(engine_rate),
        "raw_sql_accounts": baseline_rows,
        "raw_sql_seconds": round(baseline_seconds, 1),
        "raw_sql_accounts_per_second": round(baseline_rate),
        "throughput_vs_raw_sql": round(engine_rate / baseline_rate, 2) if baseline_rate else None,
        "target_ratio": 0.5,
        "balance_discrepancies_after": discrepancies,
        "check_balances_seconds": round(check_seconds, 1),
    }
