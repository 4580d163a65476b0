"""``make bench``'s Undo of Change Status To on every account, end to end:
Change Status To (to "Active") runs first through a worker process, as
``bench.bulk`` runs it (not timed here), then its Undo is confirmed
(``start_undo``: the snapshot of the rows it changed) and run by a worker
process to its end. Baseline, in the same run and on the same data: the same
restore as hand-written set-based SQL (each account's status put back to its
audit event's before-value where it still holds the after-value, with one
audit event per account changed, foreign keys checked as a commit would),
rolled back. The statuses and default dates are put back from a copy taken
first, and both operations and their audit rows are deleted, so the bench can
run again on the same data."""

from __future__ import annotations

import time

from bench.harness import WorkerProcess, operator, vacuum

TABLES = ("accounts_account", "bulkops_auditevent", "bulkops_bulkoperationitem")

# The restore with its audit, as the undo writes it (``record_field_change``:
# the same columns, the account's company, the value now and the value put
# back): one statement, the audit read before the update by the same snapshot.
RAW_UNDO_SQL = """
WITH undone AS (
    SELECT e.object_id AS id,
           (e.changes->'status'->>0)::bigint AS before,
           (e.changes->'status'->>1)::bigint AS after
    FROM bulkops_auditevent e
    WHERE e.bulk_operation_id = %(operation)s AND e.action = 'account.status_changed'
      AND e.object_type = 'accounts.account'
),
audit AS (
    INSERT INTO bulkops_auditevent
        (occurred_at, actor_id, action, object_type, object_id, changes, bulk_operation_id,
         company_id)
    SELECT now(), %(actor)s, 'account.status_changed_undone', 'accounts.account', a.id,
           jsonb_build_object('status', jsonb_build_array(a.status_id, u.before)), NULL,
           a.company_id
    FROM undone u JOIN accounts_account a ON a.id = u.id AND a.status_id = u.after
    RETURNING 1
)
UPDATE accounts_account a SET status_id = u.before
FROM undone u WHERE a.id = u.id AND a.status_id = u.after
"""


def _save_state(cursor) -> None:
    cursor.execute("DROP TABLE IF EXISTS bench_undo_accounts")
    cursor.execute(
        "CREATE TABLE bench_undo_accounts AS SELECT id, status_id, default_date"
        " FROM accounts_account"
    )


def _restore(cursor, operation_ids: list[int]) -> None:
    cursor.execute(
        "DELETE FROM bulkops_auditevent WHERE bulk_operation_id = ANY(%s)", [operation_ids]
    )
    cursor.execute(
        "UPDATE accounts_account a SET status_id = s.status_id, default_date = s.default_date"
        " FROM bench_undo_accounts s WHERE s.id = a.id"
        " AND (a.status_id, a.default_date) IS DISTINCT FROM (s.status_id, s.default_date)"
    )
    cursor.execute("DROP TABLE bench_undo_accounts")


def _baseline(actor_id: int, operation_id: int) -> tuple[int, float]:
    """(accounts put back, seconds) of the hand-written SQL, rolled back."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RAW_UNDO_SQL, {"actor": actor_id, "operation": operation_id})
        rows = cursor.rowcount
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return rows, seconds


def _change_status(user, target, total: int):
    """Change Status To on every account, by a worker process (the operation
    the bench undoes)."""
    from django.http import QueryDict

    from bulkops.selection import Selection
    from bulkops.services import start_operation

    worker = WorkerProcess()
    operation = start_operation(
        user=user,
        action_key="change_status",
        selection=Selection.for_filters("accounts", QueryDict()).select_all(),
        confirmed_count=total,
        data={"status": str(target.pk)},
        idempotency_key=f"bench-undo-{time.time_ns()}",
    )
    worker.run(operation.pk)
    operation.refresh_from_db()
    return operation


def bench_undo_change_status() -> dict:
    from django.db import connection

    from accounts.models import Account, AccountStatus
    from bulkops.models import AuditEvent, BulkOperation
    from bulkops.services import start_undo

    if connection.vendor != "postgresql":
        return {"skipped": "PostgreSQL only (the baseline is PostgreSQL's SQL)."}
    user = operator()
    target = AccountStatus.objects.get(name="Active")
    total = Account.objects.count()
    with connection.cursor() as cursor:
        _save_state(cursor)
    vacuum(*TABLES)
    changed = _change_status(user, target, total)
    operation_ids = [changed.pk]
    try:
        # Both runs start from vacuumed tables with fresh statistics (the
        # change left a million dead row versions and as many new events).
        vacuum(*TABLES)
        baseline_rows, baseline_seconds = _baseline(user.pk, changed.pk)
        vacuum(*TABLES)

        worker = WorkerProcess()
        started = time.perf_counter()
        undo = start_undo(user=user, operation=changed)
        operation_ids.append(undo.pk)
        snapshot_seconds = time.perf_counter() - started
        state, peak_mb = worker.run(undo.pk)
        seconds = time.perf_counter() - started
        undo.refresh_from_db()
        audit_rows = AuditEvent.objects.filter(
            bulk_operation=undo, action="account.status_changed_undone"
        ).count()
        still_changed = _differing_from_saved()
    finally:
        with connection.cursor() as cursor:
            _restore(cursor, operation_ids)
        for pk in reversed(operation_ids):  # the undo first: it refers to the change
            BulkOperation.objects.filter(pk=pk).delete()
        vacuum(*TABLES)

    engine_rate = undo.succeeded / seconds if seconds else 0
    baseline_rate = baseline_rows / baseline_seconds if baseline_seconds else 0
    return {
        "accounts": total,
        "accounts_changed_by_change_status": changed.succeeded,
        "change_status_state": changed.status,
        "final_state": state,
        "accounts_put_back": undo.succeeded,
        "skipped": undo.skipped,
        "failed": undo.failed,
        "audit_rows": audit_rows,
        "accounts_differing_from_before_after_undo": still_changed,
        "end_to_end_seconds": round(seconds, 1),
        "snapshot_seconds": round(snapshot_seconds, 1),
        "worker_peak_memory_mb": float(peak_mb),
        "engine_accounts_per_second": round(engine_rate),
        "raw_sql_accounts": baseline_rows,
        "raw_sql_seconds": round(baseline_seconds, 1),
        "raw_sql_accounts_per_second": round(baseline_rate),
        "throughput_vs_raw_sql": round(engine_rate / baseline_rate, 2) if baseline_rate else None,
        "target_ratio": 0.5,
    }


def _differing_from_saved() -> int:
    """Accounts whose status or default date the undo did not put back."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM accounts_account a JOIN bench_undo_accounts s ON s.id = a.id"
            " WHERE (a.status_id, a.default_date) IS DISTINCT FROM (s.status_id, s.default_date)"
        )
        return cursor.fetchone()[0]
