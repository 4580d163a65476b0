"""Change Status To (to "Active") on every account, audit included, end to
end: the confirmation's snapshot, then a worker process running every chunk,
with the grid requested meanwhile. Baseline: the same change as hand-written
set-based SQL (UPDATE + INSERT ... SELECT of the audit rows, foreign keys
checked as a commit would), rolled back. The original statuses are restored
from the audit trail afterwards, so the bench can run again on the same data."""

from __future__ import annotations

import threading
import time

from bench.harness import WorkerProcess, operator, percentiles, vacuum

TABLES = ("accounts_account", "bulkops_auditevent", "bulkops_bulkoperationitem")

RAW_AUDIT_SQL = """
INSERT INTO bulkops_auditevent
    (occurred_at, actor_id, action, object_type, object_id, changes, bulk_operation_id)
SELECT now(), %s, 'account.status_changed', 'accounts.account', a.id,
       json_build_object('status', json_build_array(a.status_id, %s)), NULL
FROM accounts_account a
JOIN accounts_accountstatus s ON s.id = a.status_id
WHERE a.status_id <> %s AND s.category <> 'terminated' AND a.terminated_on IS NULL
"""
RAW_UPDATE_SQL = """
UPDATE accounts_account a SET status_id = %s
FROM accounts_accountstatus s
WHERE s.id = a.status_id AND a.status_id <> %s
  AND s.category <> 'terminated' AND a.terminated_on IS NULL
"""
RESTORE_SQL = """
UPDATE accounts_account a SET status_id = (e.changes->'status'->>0)::bigint
FROM bulkops_auditevent e
WHERE e.bulk_operation_id = %s AND e.action = 'account.status_changed'
  AND e.object_id = a.id
"""


def bench_change_status() -> dict:
    from accounts.models import Account, AccountStatus
    from bulkops.models import AuditEvent

    platform_operator = operator()
    target = AccountStatus.objects.get(name="Active")
    total = Account.objects.count()
    changing = Account.objects.exclude(status=target).count()

    # Both runs start from a vacuumed table, as autovacuum would leave it: a
    # rolled-back million-row UPDATE leaves a million dead row versions that
    # would otherwise slow down whatever runs second.
    vacuum(*TABLES)
    baseline_rows, baseline_seconds = _raw_sql(platform_operator, target)
    vacuum(*TABLES)
    run = _engine(platform_operator, target, total)
    operation = run["operation"]
    audit_rows = AuditEvent.objects.filter(
        bulk_operation=operation, action="account.status_changed"
    ).count()
    _restore(operation)
    engine_rate = operation.succeeded / run["seconds"] if run["seconds"] else 0
    baseline_rate = baseline_rows / baseline_seconds if baseline_seconds else 0
    return {
        "accounts": total,
        "accounts_changed": operation.succeeded,
        "skipped": operation.skipped,
        "failed": operation.failed,
        "final_state": run["state"],
        "audit_rows": audit_rows,
        "end_to_end_seconds": round(run["seconds"], 1),
        "snapshot_seconds": round(run["snapshot_seconds"], 1),
        "worker_peak_memory_mb": float(run["peak_mb"]),
        "engine_accounts_per_second": round(engine_rate),
        "raw_sql_seconds": round(baseline_seconds, 1),
        "raw_sql_rows": baseline_rows,
        "raw_sql_accounts_per_second": round(baseline_rate),
        "throughput_vs_raw_sql": round(engine_rate / baseline_rate, 2) if baseline_rate else None,
        "grid_while_running": percentiles(run["grid_ms"]) if run["grid_ms"] else None,
        "accounts_needing_change": changing,
    }


def _raw_sql(platform_operator, target) -> tuple[int, float]:
    """The same change in two statements, rolled back: (rows changed, seconds)."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RAW_AUDIT_SQL, [platform_operator.pk, target.pk, target.pk])
        cursor.execute(RAW_UPDATE_SQL, [target.pk, target.pk])
        rows = cursor.rowcount
        # The foreign keys are checked at commit; check them now, as a commit
        # would (the engine's chunks pay for them), then roll back.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return rows, seconds


def _engine(platform_operator, target, total: int) -> dict:
    """The engine, end to end, with the grid polled while the worker runs."""
    from django.http import QueryDict
    from django.test import Client as HttpClient

    from accounts.models import User
    from bulkops.selection import Selection
    from bulkops.services import start_operation

    selection = Selection.for_filters("accounts", QueryDict()).select_all()
    worker = WorkerProcess()
    started = time.perf_counter()
    operation = start_operation(
        user=platform_operator,
        action_key="change_status",
        selection=selection,
        confirmed_count=total,
        data={"status": str(target.pk)},
        idempotency_key=f"bench-{time.time_ns()}",
    )
    snapshot_seconds = time.perf_counter() - started
    grid_client = HttpClient()
    grid_client.force_login(User.objects.get(username="northwind.supervisor"))
    poller = GridPoller(grid_client)
    poller.start()
    state, peak_mb = worker.run(operation.pk)
    seconds = time.perf_counter() - started
    grid_ms = poller.stop()
    operation.refresh_from_db()
    return {
        "operation": operation,
        "state": state,
        "peak_mb": peak_mb,
        "seconds": seconds,
        "snapshot_seconds": snapshot_seconds,
        "grid_ms": grid_ms,
    }


class GridPoller:
    """Requests a grid page about once a second, in a thread, until stopped."""

    def __init__(self, client):
        self.client = client
        self.samples: list[float] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll)

    def _poll(self):
        from django.db import connections

        while not self.done.is_set():
            t0 = time.perf_counter()
            self.client.get("/accounts/?sort=-current_balance")
            self.samples.append((time.perf_counter() - t0) * 1000)
            self.done.wait(1.0)
        connections.close_all()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> list[float]:
        """The page times (ms) measured."""
        self.done.set()
        self.thread.join()
        return self.samples


def _restore(operation) -> None:
    """Put the data back as it was, from the audit trail (committed on its
    own: the clean-up after it must not be able to undo it)."""
    from django.db import connection, transaction

    from bulkops.models import AuditEvent, BulkOperation

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RESTORE_SQL, [operation.pk])
    with transaction.atomic():
        AuditEvent.objects.filter(bulk_operation=operation).delete()
        BulkOperation.objects.filter(pk=operation.pk).delete()
