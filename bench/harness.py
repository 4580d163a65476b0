"""What every part of the bench shares: Django started through the same
preflight as ``make run``, the clock and its percentiles, the seeded data,
vacuuming, the server's settings, and a worker process started before the
clock (``bench.run_operation``)."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/collections_bench"
OPERATOR = "bench.operator"


def setup_django() -> None:
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


def percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    p95_index = max(0, round(0.95 * len(ordered)) - 1)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[p95_index], 1),
        "runs": len(ordered),
    }


def time_ms(fn: Callable[[], object], repeat: int, warmup: int = 2) -> list[float]:
    """``fn``'s wall time in ms, ``repeat`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def ensure_seeded(accounts: int, reseed: bool) -> dict:
    """Migrate, and seed ``accounts`` accounts unless at least as many are there."""
    from django.core.management import call_command
    from django.db import connection

    import demo
    from accounts.models import Account

    call_command("migrate", verbosity=0)
    present = Account.objects.count()
    if present >= accounts and not reseed:
        return {"accounts": present, "seeded_in_this_run": False}
    if present or demo.is_seeded():
        demo.wipe()
    started = time.perf_counter()
    demo.load(accounts)
    seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return {"accounts": accounts, "seeded_in_this_run": True, "seed_seconds": round(seconds, 1)}


def operator():
    """The platform operator the bench confirms operations as (sees every account)."""
    from accounts.models import User

    user, _ = User.objects.get_or_create(
        username=OPERATOR, defaults={"is_superuser": True, "is_staff": True}
    )
    return user


def vacuum(*tables: str) -> None:
    """VACUUM ANALYZE these tables (all without any); nothing on SQLite."""
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


class WorkerProcess:
    """A separate process that does one piece of work to its end, as a
    worker would (runs an operation, or sends). It is started (Django set
    up, code imported) before the clock starts, as a deployed worker is
    running before anyone confirms.

    ``module`` is the program it runs (``bench.run_operation``, or
    ``bench.run_dispatch`` for sending), ``env`` what it adds to this
    process's environment (settings are read from it when Django starts)."""

    def __init__(self, module: str = "bench.run_operation", env: dict[str, str] | None = None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the worker process failed:\n{self.process.stderr.read()[-3000:]}")

    def start(self, line: str) -> None:
        """Give it ``line`` and let it work (several can work at once)."""
        self.process.stdin.write(f"{line}\n")
        self.process.stdin.flush()

    def finish(self, line: str | None = None) -> str:
        """Give it ``line`` (unless given with ``start``), wait for it to end,
        and return its last line of output."""
        out, err = self.process.communicate(None if line is None else f"{line}\n")
        if self.process.returncode:
            raise RuntimeError(f"the worker process failed:\n{err[-3000:]}")
        return out.strip().splitlines()[-1]

    def run(self, operation_id: int) -> tuple[str, str]:
        """Its final state and peak memory (MB)."""
        state, peak_mb = self.finish(str(operation_id)).split()[-2:]
        return state, peak_mb
