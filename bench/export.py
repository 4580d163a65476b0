"""Export every account, ten columns, four of them masked, end to end through
the engine in a worker process that was already running: CSV (three runs,
alternating with PostgreSQL's own COPY of the same columns, masked alike;
the medians make the ratio) and .xlsx (once)."""

from __future__ import annotations

import statistics
import time

from bench.harness import WorkerProcess, operator, vacuum

EXPORT_COLUMNS = [
    "file_number", "client", "portfolio", "account_number", "debtor", "status",
    "current_balance", "assigned_to", "email", "phone",
]  # fmt: skip
EXPORT_MASKED = ["account_number", "debtor", "email", "phone"]

# The same columns, masked the same way, as PostgreSQL's own COPY.
COPY_SQL = """
COPY (
    SELECT a.file_number, c.name, p.name, '****' || right(a.account_number, 4),
           left(d.first_name, 1) || '. ' || left(d.last_name, 1) || '.', s.name,
           a.current_balance, coalesce(u.first_name || ' ' || u.last_name, ''),
           (SELECT left(e.address, 1) || '***@' || split_part(e.address, '@', 2)
              FROM accounts_debtoremail e WHERE e.debtor_id = a.debtor_id AND e.is_primary LIMIT 1),
           (SELECT '***-***-' || right(ph.number, 4)
              FROM accounts_debtorphone ph WHERE ph.debtor_id = a.debtor_id AND ph.is_primary LIMIT 1)
    FROM accounts_account a
    JOIN accounts_client c ON c.id = a.client_id
    JOIN accounts_portfolio p ON p.id = a.portfolio_id
    JOIN accounts_debtor d ON d.id = a.debtor_id
    JOIN accounts_accountstatus s ON s.id = a.status_id
    LEFT JOIN accounts_user u ON u.id = a.assigned_to_id
    ORDER BY a.id
) TO STDOUT WITH (FORMAT csv, HEADER)
"""


def _run_export(file_format: str) -> dict:
    """Export every account through the engine, in a worker process."""
    from django.core.files.storage import default_storage
    from django.http import QueryDict

    from accounts.models import Account
    from bulkops.models import BulkOperation
    from bulkops.selection import Selection
    from bulkops.services import start_operation

    platform_operator = operator()
    total = Account.objects.count()
    vacuum("bulkops_bulkoperationitem")
    worker = WorkerProcess()
    started = time.perf_counter()
    operation = start_operation(
        user=platform_operator,
        action_key="export",
        selection=Selection.for_filters("accounts", QueryDict()).select_all(),
        confirmed_count=total,
        data={"format": file_format, "columns": EXPORT_COLUMNS, "mask": EXPORT_MASKED},
        idempotency_key=f"bench-export-{time.time_ns()}",
    )
    state, peak_mb = worker.run(operation.pk)
    seconds = time.perf_counter() - started
    operation.refresh_from_db()
    export_file = operation.export_file if hasattr(operation, "export_file") else None
    size = None
    if export_file is not None and export_file.name and default_storage.exists(export_file.name):
        size = default_storage.size(export_file.name)
        default_storage.delete(export_file.name)
    result = {
        "rows": operation.succeeded,
        "status": operation.status,
        "seconds": round(seconds, 1),
        "worker_peak_memory_mb": float(peak_mb),
        "file_bytes": size,
        "final_state": state,
    }
    BulkOperation.objects.filter(pk=operation.pk).delete()
    return result


def bench_export(runs: int = 3) -> dict:
    """CSV (masked) and .xlsx of every account, against PostgreSQL's COPY of
    the same columns measured in the same run. The CSV and the COPY run
    ``runs`` times each, alternately, and their medians make the ratio (one
    run of either varies by 10-20% on this machine); the .xlsx runs once."""
    from django.db import connection

    class Sink:
        size = 0

        def write(self, data):
            self.size += len(data)

    def copy() -> tuple[float, int]:
        sink = Sink()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(COPY_SQL, sink)
        return time.perf_counter() - started, sink.size

    copy_seconds, csv_results = [], []
    for _ in range(runs):
        seconds, copy_bytes = copy()
        copy_seconds.append(seconds)
        csv_results.append(_run_export("csv"))
    csv_seconds = [r["seconds"] for r in csv_results]
    csv_median = statistics.median(csv_seconds)
    copy_median = statistics.median(copy_seconds)
    csv_result = min(csv_results, key=lambda r: abs(r["seconds"] - csv_median))
    xlsx_result = _run_export("xlsx")
    return {
        "columns": EXPORT_COLUMNS,
        "masked": EXPORT_MASKED,
        "postgres_copy_seconds": round(copy_median, 1),
        "postgres_copy_runs": [round(s, 1) for s in copy_seconds],
        "postgres_copy_bytes": copy_bytes,
        "csv": {**csv_result, "seconds": round(csv_median, 1), "runs": csv_seconds},
        "csv_vs_copy_ratio": round(csv_median / copy_median, 2),
        "xlsx": xlsx_result,
    }
