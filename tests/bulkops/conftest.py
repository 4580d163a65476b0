"""A real Celery worker for the engine's end-to-end tests.

``celery_worker`` starts ``celery -A collections_app worker`` as a separate
process (its own process group) on the SAME test database the test uses and
the same broker: Redis when REDIS_URL is set, otherwise Celery's filesystem
broker under VAR_DIR. Tests that use it need ``transactional_db``: the worker
sees only committed rows. The tests in ``tests/e2e`` use it too (that
conftest re-exports the fixtures).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60
STOP_GRACE_SECONDS = 10


def worker_database_url() -> str:
    """The URL of the test database this process is connected to."""
    from django.db import connection

    settings_dict = connection.settings_dict
    name = settings_dict["NAME"]
    if connection.vendor == "sqlite":
        assert name and name != ":memory:" and "mode=memory" not in str(name), (
            "the SQLite test database must be a file (settings_test sets TEST NAME)"
        )
        return f"sqlite:///{Path(name).resolve()}"
    assert connection.vendor == "postgresql", connection.vendor
    # Never point a worker at anything but the throw-away test database.
    assert name.startswith("test_") and name != "collections_bench", name
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/{name}"


def purge_broker() -> None:
    """Drop every queued message so a worker only sees this test's tasks."""
    from django.conf import settings

    from collections_app.celery import app

    if settings.REDIS_URL:
        app.control.purge()
        # Messages a SIGKILLed worker had taken (acks late) wait in kombu's
        # "unacked" hash until the visibility timeout; nobody else uses this
        # test database's broker, so drop them too.
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            client.delete("unacked", "unacked_index", "unacked_mutex")
        finally:
            client.close()
        return
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key in ("data_folder_in", "control_folder"):
        folder = Path(options[key])
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            if path.is_file():
                path.unlink(missing_ok=True)


class Worker:
    """One ``celery worker`` process group."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop/kill)
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "collections_app", "worker",
                "--concurrency", "1", "--pool", "prefork", "-l", "info",
                "--hostname", f"{name}@%h",
                # No other workers to sync with or gossip to: start faster.
                "--without-mingle", "--without-gossip",
            ],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: one signal reaches the pool too
        )  # fmt: skip

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def failed_tasks(self) -> list[str]:
        """Log lines of tasks that raised (their traceback follows in the log)."""
        return [line for line in self.log().splitlines() if "raised unexpected" in line]

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Send the heartbeat task through the broker until this worker has
        run it (it records a WorkerHeartbeat row under its hostname)."""
        from bulkops.models import WorkerHeartbeat
        from bulkops.tasks import record_heartbeat

        deadline = time.monotonic() + timeout
        sent_at = 0.0
        while not WorkerHeartbeat.objects.filter(worker__startswith=f"{self.name}@").exists():
            assert self.alive(), f"worker {self.name} exited at start-up:\n{self.log()}"
            assert time.monotonic() < deadline, (
                f"worker {self.name} did not run the heartbeat task within {timeout} s:\n"
                + self.log()
            )
            if time.monotonic() - sent_at > 3:  # another worker may have taken it
                record_heartbeat.delay()
                sent_at = time.monotonic()
            time.sleep(0.1)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group (the main process and its pool child)."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        """SIGTERM (warm shutdown), SIGKILL after a grace period."""
        if self.alive():
            # Warm shutdown: the main process lets the pool finish its task,
            # then ends the pool (a SIGTERM to the whole group would kill the
            # pool child outright).
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_GRACE_SECONDS)
        # Whatever is left of the group (a pool child), and the main process.
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=30)
        if not self._log.closed:
            self._log.close()


class WorkerPool:
    """Starts workers on demand; the fixture stops every one of them."""

    def __init__(self, log_dir: Path):
        from django.conf import settings

        self.log_dir = log_dir
        self.workers: list[Worker] = []
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
        }
        env.update(
            DATABASE_URL=worker_database_url(),
            DJANGO_SETTINGS_MODULE="collections_app.settings",
            VAR_DIR=str(settings.VAR_DIR),
            HTTPS="false",
            PYTHONUNBUFFERED="1",
        )
        if settings.REDIS_URL:
            env["REDIS_URL"] = settings.REDIS_URL
        self.env = env

    def start(self, *, wait: bool = True) -> Worker:
        name = f"test-worker-{len(self.workers) + 1}-{uuid.uuid4().hex[:6]}"
        worker = Worker(name, self.env, self.log_dir / f"{name}.log")
        self.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture
def celery_workers(transactional_db, tmp_path):
    """Starts real workers on demand: ``celery_workers.start()``. The broker
    is purged first (no message of an earlier test reaches them) and again
    at teardown, after every worker is stopped (SIGTERM, then SIGKILL)."""
    purge_broker()
    pool = WorkerPool(tmp_path)
    try:
        yield pool
    finally:
        try:
            pool.stop_all()
        finally:
            purge_broker()
        _delete_operation_items()


def _delete_operation_items() -> None:
    """Delete the operations' items before ``transactional_db`` flushes.
    On SQLite the flush is one ``DELETE`` per table in no fixed order (a
    set: it changes with the hash seed), and each account deleted before
    the items is checked against ``bulkops_bulkoperationitem`` by a full
    scan (no index starts with ``account_id``): 10,000 accounts and items
    made a 20 s teardown."""
    from bulkops.models import BulkOperationItem

    BulkOperationItem.objects.all().delete()


@pytest.fixture
def celery_worker(celery_workers):
    """One running worker, ready (it has run a task from the broker)."""
    return celery_workers.start()


def make_accounts(n: int, *, company, status, prefix: str) -> list[int]:
    """``n`` accounts of ``company`` inserted in bulk (one shared client,
    portfolio, creditor and debtor); returns their IDs in order."""
    from accounts.models import Account
    from tests.factories import CreditorFactory, DebtorFactory, PortfolioFactory

    portfolio = PortfolioFactory()
    shared = {
        "company": company,
        "portfolio": portfolio,
        "client": portfolio.client,
        "creditor": CreditorFactory(),
        "debtor": DebtorFactory(),
        "status": status,
    }
    Account.objects.bulk_create(
        (
            Account(file_number=f"{prefix}{i:07d}", account_number=f"9{i:011d}", **shared)
            for i in range(n)
        ),
        batch_size=2000,
    )
    return list(
        Account.objects.filter(file_number__startswith=prefix)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
