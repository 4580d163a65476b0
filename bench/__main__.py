"""``make bench``: performance figures as JSON, never assertions.

Seeds the benchmark database when it holds fewer accounts than asked, then
measures, in one run and on the same data:

* the accounts grid page (filtered, sorted, 50 rows, with the counter) for
  representative filters: p50 / p95 server time (request through Django's
  full handler stack, in process, no network);
* the same count + page as hand-written SQL (the floor) and the Django admin
  changelist for the same filter and page size (the baseline), with ratios;
* "select all, exclude 3, count" through the Selection object.

Usage: python -m bench [--accounts N] [--repeat R] [--reseed] [--output PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/collections_bench"


def _setup_django():
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_app.settings")
    os.environ.setdefault("HTTPS", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    from collections_app import preflight

    # The same start-up check as `make run`: creates the database when missing.
    # Its "created" line goes to stderr: stdout is the JSON report.
    with contextlib.redirect_stdout(sys.stderr):
        exit_code = preflight.main()
    if exit_code:
        raise SystemExit(exit_code)
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]


def _percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    p95_index = max(0, round(0.95 * len(ordered)) - 1)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[p95_index], 1),
        "runs": len(ordered),
    }


def _time(fn, repeat: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def ensure_seeded(accounts: int, reseed: bool) -> dict:
    from django.core.management import call_command

    import demo as demo_data
    from accounts.models import Account

    call_command("migrate", verbosity=0)
    present = Account.objects.count()
    if present >= accounts and not reseed:
        return {"accounts": present, "seeded_in_this_run": False}
    if present or demo_data.is_seeded():
        demo_data.wipe()
    started = time.perf_counter()
    demo_data.load(accounts)
    seconds = time.perf_counter() - started
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return {"accounts": accounts, "seeded_in_this_run": True, "seed_seconds": round(seconds, 1)}


def representative_filters():
    """(name, grid query, admin query, raw SQL WHERE, raw SQL ORDER BY)."""
    from django.utils import timezone

    from accounts.models import AccountStatus, Client, User

    status = {s.name: s.pk for s in AccountStatus.objects.all()}
    client = Client.objects.order_by("pk").first().pk
    collector = User.objects.get(username="northwind.collector3").pk
    cutoff = timezone.localdate() - dt.timedelta(days=90)
    active, new, default = status["Active"], status["New"], status["In Default"]
    return [
        (
            "all accounts, by file number",
            "",
            "o=1",
            "a.company_id = %(company)s",
            "a.file_number ASC, a.id ASC",
        ),
        (
            "status In Default, by balance desc",
            f"status={default}&sort=-current_balance",
            f"status__id__exact={default}&o=-7",
            f"a.company_id = %(company)s AND a.status_id = {default}",
            "a.current_balance DESC, a.id DESC",
        ),
        (
            "client + status Active or New, by balance desc",
            f"client={client}&status={active}&status={new}&sort=-current_balance",
            f"client__id__exact={client}&status__id__in={active},{new}&o=-7",
            f"a.company_id = %(company)s AND a.client_id = {client} "
            f"AND a.status_id IN ({active}, {new})",
            "a.current_balance DESC, a.id DESC",
        ),
        (
            "one collector's accounts over $1,000, by balance",
            f"assigned_to={collector}&balance_min=1000&sort=current_balance",
            f"assigned_to__id__exact={collector}&current_balance__gte=1000&o=7",
            f"a.company_id = %(company)s AND a.assigned_to_id = {collector} "
            "AND a.current_balance >= 1000",
            "a.current_balance ASC, a.id ASC",
        ),
        (
            "90+ days since default with a declined payment, by balance desc",
            "days_since_default_min=90&declined_min=1&sort=-current_balance",
            f"default_date__lte={cutoff.isoformat()}&declined_count__gte=1&o=-7",
            f"a.company_id = %(company)s AND a.default_date <= '{cutoff.isoformat()}' "
            "AND a.declined_count >= 1",
            "a.current_balance DESC, a.id DESC",
        ),
    ]


RAW_PAGE_SQL = """
SELECT a.id, a.file_number, a.account_number, a.current_balance,
       c.name, p.name, d.first_name, d.last_name, s.name, u.first_name, u.last_name
FROM accounts_account a
JOIN accounts_client c ON c.id = a.client_id
JOIN accounts_portfolio p ON p.id = a.portfolio_id
JOIN accounts_debtor d ON d.id = a.debtor_id
JOIN accounts_accountstatus s ON s.id = a.status_id
LEFT JOIN accounts_user u ON u.id = a.assigned_to_id
WHERE {where}
ORDER BY {order}
LIMIT 50
"""


def bench_grid(repeat: int) -> list[dict]:
    from django.db import connection
    from django.test import Client as HttpClient

    from accounts.models import User

    supervisor = User.objects.get(username="northwind.supervisor")
    admin_user = User.objects.get(username="northwind.admin")
    grid_client, admin_client = HttpClient(), HttpClient()
    grid_client.force_login(supervisor)
    admin_client.force_login(admin_user)
    results = []
    params = {"company": supervisor.company_id}
    for name, grid_query, admin_query, where, order in representative_filters():
        grid_url = f"/accounts/?{grid_query}"
        admin_url = f"/admin/accounts/account/?{admin_query}"

        def get_grid(url=grid_url):
            response = grid_client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        def get_admin(url=admin_url):
            response = admin_client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        def raw_sql(where=where, order=order):
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM accounts_account a WHERE {where}", params)
                cursor.fetchone()
                cursor.execute(RAW_PAGE_SQL.format(where=where, order=order), params)
                cursor.fetchall()

        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM accounts_account a WHERE {where}", params)
            matching = cursor.fetchone()[0]
        grid = _percentiles(_time(get_grid, repeat))
        sql = _percentiles(_time(raw_sql, repeat))
        admin = _percentiles(_time(get_admin, repeat))
        results.append(
            {
                "filter": name,
                "matching_accounts": matching,
                "grid": grid,
                "raw_sql_count_and_page": sql,
                "django_admin_changelist": admin,
                "grid_vs_admin_ratio": round(grid["p50_ms"] / admin["p50_ms"], 2),
                "grid_vs_raw_sql_ratio": round(grid["p50_ms"] / sql["p50_ms"], 2),
            }
        )
    return results


def bench_select_all(repeat: int) -> list[dict]:
    """Select all, exclude three rows, count: the Selection object vs raw SQL."""
    from django.db import connection
    from django.http import QueryDict

    from accounts.models import User
    from bulkops.selection import Selection

    results = []
    operator, _ = User.objects.get_or_create(
        username="bench.operator", defaults={"is_superuser": True, "is_staff": True}
    )
    supervisor = User.objects.get(username="northwind.supervisor")
    for label, user, where in (
        ("every account (platform operator)", operator, "TRUE"),
        ("one company's accounts", supervisor, f"a.company_id = {supervisor.company_id}"),
    ):
        excluded = list(
            Selection("accounts", all_matching=True)
            .resolve(user)
            .order_by("pk")
            .values_list("pk", flat=True)[:3]
        )
        selection = Selection.for_filters("accounts", QueryDict()).select_all()
        for account_id in excluded:
            selection = selection.toggle(account_id, checked=False)
        expected = Selection("accounts", all_matching=True).resolve(user).count() - 3

        def count(selection=selection, user=user, expected=expected):
            assert selection.count(user) == expected

        def raw(where=where, excluded=excluded):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT COUNT(*) FROM accounts_account a WHERE {where} "
                    "AND a.id NOT IN (%s, %s, %s)",
                    excluded,
                )
                cursor.fetchone()

        selection_times = _percentiles(_time(count, repeat))
        raw_times = _percentiles(_time(raw, repeat))
        results.append(
            {
                "selection": f"select all of {label}, exclude 3, count",
                "selected": expected,
                "selection_count": selection_times,
                "raw_sql": raw_times,
                "ratio": round(selection_times["p50_ms"] / raw_times["p50_ms"], 2),
            }
        )
    return results


class WorkerProcess:
    """A separate process that runs one operation to its end, as a worker
    would. It is started (Django set up, code imported) before the clock
    starts, as a deployed worker is running before anyone confirms."""

    def __init__(self):
        import subprocess

        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.run_operation"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the worker process failed:\n{self.process.stderr.read()[-3000:]}")

    def run(self, operation_id: int) -> tuple[str, str]:
        """Its final state and peak memory (MB)."""
        out, err = self.process.communicate(f"{operation_id}\n")
        if self.process.returncode:
            raise RuntimeError(f"the worker process failed:\n{err[-3000:]}")
        state, peak_mb = out.split()[-2:]
        return state, peak_mb


def _vacuum(*tables: str) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in tables or [""]:
            cursor.execute(f"VACUUM ANALYZE {table}")


def server_settings() -> dict:
    """The PostgreSQL settings that matter most for bulk writes, as measured."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    names = [
        "server_version", "shared_buffers", "max_wal_size", "checkpoint_timeout",
        "wal_compression", "synchronous_commit", "autovacuum", "work_mem",
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)", [names]
        )
        return dict(sorted(cursor.fetchall()))


def bench_change_status(repeat_grid: int = 5) -> dict:
    """Change Status To on every account, audit included, end to end: the
    confirmation's snapshot, then a worker process running every chunk. The
    grid is requested meanwhile. Baseline: the same change as hand-written
    set-based SQL (UPDATE + INSERT ... SELECT of the audit rows), rolled back.
    The original statuses are restored from the audit trail afterwards, so the
    bench can run again on the same data."""
    import threading

    from django.db import connection, transaction
    from django.http import QueryDict
    from django.test import Client as HttpClient

    from accounts.models import Account, AccountStatus, User
    from bulkops.models import AuditEvent, BulkOperation
    from bulkops.selection import Selection
    from bulkops.services import start_operation

    operator, _ = User.objects.get_or_create(
        username="bench.operator", defaults={"is_superuser": True, "is_staff": True}
    )
    target = AccountStatus.objects.get(name="Active")
    total = Account.objects.count()
    changing = Account.objects.exclude(status=target).count()

    # Both runs start from a vacuumed table, as autovacuum would leave it: a
    # rolled-back million-row UPDATE leaves a million dead row versions that
    # would otherwise slow down whatever runs second.
    _vacuum("accounts_account", "bulkops_auditevent", "bulkops_bulkoperationitem")

    # Baseline first: the same change in two statements, rolled back.
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO bulkops_auditevent
                (occurred_at, actor_id, action, object_type, object_id, changes, bulk_operation_id)
            SELECT now(), %s, 'account.status_changed', 'accounts.account', a.id,
                   json_build_object('status', json_build_array(a.status_id, %s)), NULL
            FROM accounts_account a
            JOIN accounts_accountstatus s ON s.id = a.status_id
            WHERE a.status_id <> %s AND s.category <> 'terminated' AND a.terminated_on IS NULL
            """,
            [operator.pk, target.pk, target.pk],
        )
        cursor.execute(
            """
            UPDATE accounts_account a SET status_id = %s
            FROM accounts_accountstatus s
            WHERE s.id = a.status_id AND a.status_id <> %s
              AND s.category <> 'terminated' AND a.terminated_on IS NULL
            """,
            [target.pk, target.pk],
        )
        baseline_rows = cursor.rowcount
        # The foreign keys are checked at commit; check them now, as a commit
        # would (the engine's chunks pay for them), then roll back.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        baseline_seconds = time.perf_counter() - started
        transaction.set_rollback(True)

    _vacuum("accounts_account", "bulkops_auditevent", "bulkops_bulkoperationitem")

    # The engine, end to end.
    selection = Selection.for_filters("accounts", QueryDict()).select_all()
    worker = WorkerProcess()
    started = time.perf_counter()
    operation = start_operation(
        user=operator,
        action_key="change_status",
        selection=selection,
        confirmed_count=total,
        data={"status": str(target.pk)},
        idempotency_key=f"bench-{time.time_ns()}",
    )
    snapshot_seconds = time.perf_counter() - started
    grid_client = HttpClient()
    grid_client.force_login(User.objects.get(username="northwind.supervisor"))
    grid_samples: list[float] = []
    done = threading.Event()

    def poll_grid():
        from django.db import connections

        while not done.is_set():
            t0 = time.perf_counter()
            grid_client.get("/accounts/?sort=-current_balance")
            grid_samples.append((time.perf_counter() - t0) * 1000)
            done.wait(1.0)
        connections.close_all()

    poller = threading.Thread(target=poll_grid)
    poller.start()
    state, peak_mb = worker.run(operation.pk)
    engine_seconds = time.perf_counter() - started
    done.set()
    poller.join()
    operation.refresh_from_db()
    audit_rows = AuditEvent.objects.filter(
        bulk_operation=operation, action="account.status_changed"
    ).count()

    # Put the data back as it was, from the audit trail (committed on its
    # own: the clean-up after it must not be able to undo it).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE accounts_account a SET status_id = (e.changes->'status'->>0)::bigint
            FROM bulkops_auditevent e
            WHERE e.bulk_operation_id = %s AND e.action = 'account.status_changed'
              AND e.object_id = a.id
            """,
            [operation.pk],
        )
    with transaction.atomic():
        AuditEvent.objects.filter(bulk_operation=operation).delete()
        BulkOperation.objects.filter(pk=operation.pk).delete()
    engine_rate = operation.succeeded / engine_seconds if engine_seconds else 0
    baseline_rate = baseline_rows / baseline_seconds if baseline_seconds else 0
    return {
        "accounts": total,
        "accounts_changed": operation.succeeded,
        "skipped": operation.skipped,
        "failed": operation.failed,
        "final_state": state,
        "audit_rows": audit_rows,
        "end_to_end_seconds": round(engine_seconds, 1),
        "snapshot_seconds": round(snapshot_seconds, 1),
        "worker_peak_memory_mb": float(peak_mb),
        "engine_accounts_per_second": round(engine_rate),
        "raw_sql_seconds": round(baseline_seconds, 1),
        "raw_sql_rows": baseline_rows,
        "raw_sql_accounts_per_second": round(baseline_rate),
        "throughput_vs_raw_sql": round(engine_rate / baseline_rate, 2) if baseline_rate else None,
        "grid_while_running": _percentiles(grid_samples) if grid_samples else None,
        "accounts_needing_change": changing,
    }


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

    from accounts.models import Account, User
    from bulkops.models import BulkOperation
    from bulkops.selection import Selection
    from bulkops.services import start_operation

    operator, _ = User.objects.get_or_create(
        username="bench.operator", defaults={"is_superuser": True, "is_staff": True}
    )
    total = Account.objects.count()
    _vacuum("bulkops_bulkoperationitem")
    worker = WorkerProcess()
    started = time.perf_counter()
    operation = start_operation(
        user=operator,
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--reseed", action="store_true", help="Seed again even if seeded.")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument(
        "--only", choices=["grid", "bulk", "export"], help="Run one part (default: everything)."
    )
    args = parser.parse_args(argv)

    _setup_django()
    from django.db import connection

    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": connection.vendor,
        "machine": {"cpus": os.cpu_count()},
        "database_settings": server_settings(),
        "seed": ensure_seeded(args.accounts, args.reseed),
    }
    # Every part starts from vacuumed tables with fresh statistics, as
    # autovacuum keeps them in production (an earlier run's restored or
    # deleted rows would otherwise cost index-only scans their heap visits).
    if args.only in (None, "grid"):
        _vacuum()
        report["grid"] = bench_grid(args.repeat)
        report["select_all_count"] = bench_select_all(args.repeat)
    if args.only in (None, "bulk"):
        _vacuum()
        report["change_status_all_accounts"] = bench_change_status()
    if args.only in (None, "export"):
        # The bulk part restored a million statuses: dead rows to clear first.
        _vacuum()
        report["export_all_accounts"] = bench_export()
    text = json.dumps(report, indent=2)
    print(text)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n")


if __name__ == "__main__":
    main()
