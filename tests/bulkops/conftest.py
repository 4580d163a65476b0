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

    def __init__(self, name: str, env: dict[str, str], log_path: Path, *, concurrency: int = 1):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop/kill)
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "collections_app", "worker",
                "--concurrency", str(concurrency), "--pool", "prefork", "-l", "info",
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
    """Starts workers on demand; the fixture stops every one of them. Their
    broker is this process's (``redis_url`` points them at another Redis)."""

    def __init__(self, log_dir: Path, *, redis_url: str | None = None):
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
        if redis_url or settings.REDIS_URL:
            env["REDIS_URL"] = redis_url or settings.REDIS_URL
        self.env = env

    def start(self, *, wait: bool = True, concurrency: int = 1) -> Worker:
        name = f"test-worker-{len(self.workers) + 1}-{uuid.uuid4().hex[:6]}"
        worker = Worker(name, self.env, self.log_dir / f"{name}.log", concurrency=concurrency)
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
        delete_operation_items()


def delete_operation_items() -> None:
    """Delete the operations' items before ``transactional_db`` flushes.
    On SQLite the flush is one ``DELETE`` per table in no fixed order (a
    set: it changes with the hash seed), and each account deleted before
    the items is checked against ``bulkops_bulkoperationitem`` by a full
    scan (no index starts with ``target_id``): 10,000 accounts and items
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


# --- export files in an S3-compatible bucket ------------------------------------------------

S3_REGION = "eu-west-1"
PRINT_STORAGES = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps(settings.STORAGES))"
)


def storages_for(tmp_path, **variables) -> dict:
    """STORAGES as collections_app.settings builds it from this environment."""
    import json

    from tests.test_deploy_settings import production_env, run_python

    result = run_python("-c", PRINT_STORAGES, env=production_env(tmp_path, **variables))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on loopback, for the whole run."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Bucket:
    """A bucket of the S3 server, and the environment that makes it a
    process's default storage."""

    def __init__(self, endpoint: str, name: str):
        import boto3

        self.name = name
        self.environment = {
            "AWS_STORAGE_BUCKET_NAME": name,
            "AWS_S3_ENDPOINT_URL": endpoint,
            "AWS_S3_REGION_NAME": S3_REGION,
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_LOCATION": "collections",
            "AWS_ACCESS_KEY_ID": "test-key",
            "AWS_SECRET_ACCESS_KEY": "test-secret",
        }
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=S3_REGION,
            aws_access_key_id="test-key",
            aws_secret_access_key="test-secret",
        )
        self.client.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": S3_REGION}
        )

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name).get("Contents", [])
        return sorted(entry["Key"] for entry in listed)

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)


@pytest.fixture
def bucket(s3_endpoint, settings, tmp_path, monkeypatch):
    """A new bucket, made this process's default storage with exactly the
    options the production settings give it (``bucket.environment`` does the
    same for a worker process)."""
    bucket = Bucket(s3_endpoint, f"exports-{uuid.uuid4().hex[:12]}")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # boto3 reads them
        monkeypatch.setenv(key, bucket.environment[key])
    settings.STORAGES = storages_for(tmp_path, **bucket.environment)  # resets default_storage
    settings.MEDIA_ROOT = tmp_path / "media"  # must stay empty
    yield bucket
    assert not (tmp_path / "media").exists(), "a file went to the local disk"
