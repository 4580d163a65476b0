"""Redis going away: a real ``redis-server`` on a spare loopback port, a real
worker and this process's Celery app both using it. The broker is SIGKILLed
in the middle of an operation and started again on the same port: the same
worker process finishes the operation, reconnects and runs the next one.
Confirming, cancelling and retrying while it is down answer with the
operation's page, and the sweeper starts the operation once it is back.

Runs on both database backends: with or without REDIS_URL, the worker and
this process use only this private Redis here."""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.actions import AssignTo
from accounts.models import Account
from accounts.roles import COLLECTOR, SUPERVISOR
from accounts.selectable import ACCOUNTS as ACCOUNT_LIST
from bulkops import services
from bulkops.models import BulkOperation, BulkOperationItem
from bulkops.selection import Selection
from tests.bulkops.conftest import WorkerPool, delete_operation_items, make_accounts
from tests.bulkops.test_worker import assert_done_exactly_once, wait_until_finished
from tests.factories import AccountStatusFactory, CompanyFactory, UserFactory, create_accounts

pytestmark = pytest.mark.e2e

Status = BulkOperation.Status
Outcome = BulkOperationItem.Outcome

# Assign To commits 2,000 accounts a chunk: enough chunks that the broker can
# be killed while the worker is between the first and the last.
ACCOUNTS = 15 * AssignTo.chunk_size
READY_TIMEOUT = 30
QUEUE_UNREACHABLE = "The task queue cannot be reached right now"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A throw-away ``redis-server`` on loopback, no persistence: what is in
    it when it is killed is gone, as after a crash of an unpersisted Redis."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        import redis

        self._log = open(self.directory / f"redis-{self.port}.log", "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.directory),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            while True:
                assert self.process.poll() is None, self.log()
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                assert time.monotonic() < deadline, f"redis-server never answered:\n{self.log()}"
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no goodbye to its clients, their sockets just close."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        if self._log is not None and not self._log.closed:
            self._log.flush()
        path = self.directory / f"redis-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


def reset_broker_pools(app) -> None:
    """Close and forget the app's broker connections and producers, so the
    next publish connects to whatever the settings say now. (``app.close()``
    would also unregister the app, and leaves the producer pool.) The pools
    live in kombu's process-wide registry, by broker URL: it is emptied too,
    or the next ``app.pool`` for the same URL would be the closed one."""
    from kombu import pools

    pools.reset()  # closes every pool of the registry and forgets them
    app.amqp._producer_pool = None
    app._pool = None


@pytest.fixture
def app_on_private_redis(private_redis, settings):
    """This process's Celery app publishing to the private Redis with the
    production broker options. Celery reads the Django settings live, and
    ``settings`` restores them; the app's pools are rebuilt on either side."""
    from collections_app.celery import app

    reset_broker_pools(app)
    settings.CELERY_BROKER_URL = private_redis.url
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = dict(settings.REDIS_BROKER_TRANSPORT_OPTIONS)
    assert app.conf.broker_url == private_redis.url
    yield app
    reset_broker_pools(app)


@pytest.fixture
def outage_workers(transactional_db, tmp_path, private_redis, app_on_private_redis):
    """Real workers on the private Redis; stopped (SIGTERM, then SIGKILL) after."""
    pool = WorkerPool(tmp_path, redis_url=private_redis.url)
    try:
        yield pool
    finally:
        pool.stop_all()
        delete_operation_items()


@pytest.fixture
def supervisor(roles):  # noqa: F811
    company = CompanyFactory(name="Acme Recovery")
    return UserFactory(username="sue", company=company, role=SUPERVISOR)


@pytest.fixture
def collectors(supervisor):
    return [
        UserFactory(username=f"collector{n}", company=supervisor.company, role=COLLECTOR)
        for n in (1, 2)
    ]


def assign_all(user, collector, count: int) -> BulkOperation:
    """Assign To ``collector`` every account the user sees, as the dialog does."""
    return services.start_operation(
        user=user,
        action_key="assign",
        selection=Selection("accounts").select_all(),
        confirmed_count=count,
        data={
            "assignments": json.dumps([{"collector": str(collector.pk), "count": count}]),
            "credit_payments": "off",
        },
        idempotency_key=uuid.uuid4().hex,
    )


def wait_for_log(worker, pattern: str, *, count: int = 1, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(re.findall(pattern, worker.log())) < count:
        assert worker.alive(), f"the worker exited:\n{worker.log()[-8000:]}"
        assert time.monotonic() < deadline, f"no {pattern!r} x{count} in:\n{worker.log()[-8000:]}"
        time.sleep(0.1)


def kill_broker_mid_operation(operation: BulkOperation, redis_server, worker) -> int:
    """SIGKILL Redis once some but not all chunks have committed; returns
    how many accounts were processed then (0 if it finished first)."""
    deadline = time.monotonic() + 60
    while True:
        processed, status = BulkOperation.objects.values_list("processed", "status").get(
            pk=operation.pk
        )
        if 0 < processed < operation.total:
            redis_server.kill()
            return processed
        if status not in BulkOperation.ACTIVE:
            return 0
        assert worker.alive() and not worker.failed_tasks(), worker.log()
        assert time.monotonic() < deadline, f"no chunk committed:\n{worker.log()}"
        time.sleep(0.005)


def test_the_same_worker_survives_a_broker_outage_mid_operation_and_runs_the_next(
    outage_workers, private_redis, supervisor, collectors
):
    status = AccountStatusFactory(name="Active")
    account_ids = make_accounts(ACCOUNTS, company=supervisor.company, status=status, prefix="R")
    # Two pool processes, as `make run` and docker-compose run: while one runs
    # the operation, the worker keeps listening to Redis for more work.
    worker = outage_workers.start(concurrency=2)
    pid = worker.process.pid

    first, second = collectors
    for attempt in range(3):
        target = collectors[attempt % 2]
        operation = assign_all(supervisor, target, ACCOUNTS)
        if kill_broker_mid_operation(operation, private_redis, worker):
            break
        # It finished before the kill could land: check it, and try again.
        assert_done_exactly_once(
            wait_until_finished(operation, [worker]), account_ids, "account.assigned"
        )
    else:
        pytest.fail("the operation finished every time before Redis could be killed")

    # The running task needs only the database: it goes on to the end.
    operation = wait_until_finished(operation, [worker])
    assert_done_exactly_once(operation, account_ids, "account.assigned")
    assert set(Account.objects.values_list("assigned_to", flat=True)) == {target.pk}
    wait_for_log(worker, r"Connection to broker lost")
    assert worker.alive(), f"the worker exited without its broker:\n{worker.log()[-8000:]}"

    # Redis is back on the same port: the same process reconnects and takes new work.
    connected = len(re.findall(r"Connected to redis://", worker.log()))
    private_redis.start()
    wait_for_log(worker, r"Connected to redis://", count=connected + 1)
    other = second if target == first else first
    nxt = wait_until_finished(assign_all(supervisor, other, ACCOUNTS), [worker])
    assert_done_exactly_once(nxt, account_ids, "account.assigned")
    assert set(Account.objects.values_list("assigned_to", flat=True)) == {other.pk}
    assert worker.alive() and worker.process.pid == pid
    assert outage_workers.workers == [worker]
    assert "Unrecoverable error" not in worker.log()


# --- confirming, cancelling and retrying while the broker is down --------------------------


def confirm_assign(client, collector, count: int):
    """The Assign To dialog, opened and confirmed through the test client."""
    dialog = client.get(reverse("bulkops:action-dialog", args=["assign"]), {"state": ""})
    assert dialog.status_code == 200
    content = dialog.content.decode()

    def hidden(name):
        return re.search(rf'name="{name}" value="([^"]*)"', content).group(1)

    return client.post(
        reverse("bulkops:action-confirm", args=["assign"]),
        {
            "state": hidden("state"),
            "confirmed_count": hidden("confirmed_count"),
            "idempotency_key": hidden("idempotency_key"),
            "assignments": json.dumps([{"collector": str(collector.pk), "count": count}]),
            "credit_payments": "off",
        },
    )


def select_everything(client) -> None:
    session = client.session
    session[ACCOUNT_LIST.session_key] = Selection("accounts").select_all().to_dict()
    session.save()


def test_a_confirm_while_the_broker_is_down_shows_the_operation_and_the_sweeper_starts_it(
    outage_workers, private_redis, supervisor, collectors, client, caplog
):
    status = AccountStatusFactory(name="Active")
    count = 2 * AssignTo.chunk_size
    account_ids = make_accounts(count, company=supervisor.company, status=status, prefix="D")
    worker = outage_workers.start()
    client.force_login(supervisor)
    select_everything(client)

    private_redis.kill()
    with caplog.at_level(logging.WARNING, logger="bulkops.services"):
        response = confirm_assign(client, collectors[0], count)
    operation = BulkOperation.objects.get()
    detail = reverse("bulkops:operation-detail", args=[operation.pk])
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response.url == detail
    assert operation.status == Status.QUEUED and operation.total == count
    assert any(
        r.levelno == logging.WARNING and f"bulk operation {operation.pk}" in r.getMessage()
        for r in caplog.records
    ), caplog.text

    page = client.get(detail).content.decode()
    assert QUEUE_UNREACHABLE in page
    assert 'data-testid="waiting-for-worker"' in page
    progress = client.get(reverse("bulkops:operation-progress", args=[operation.pk]))
    assert 'data-testid="waiting-for-worker"' in progress.content.decode()

    connected = len(re.findall(r"Connected to redis://", worker.log()))
    private_redis.start()
    wait_for_log(worker, r"Connected to redis://", count=connected + 1)
    assert operation.pk in services.sweep_stale_operations(stale_after_seconds=0)
    operation = wait_until_finished(operation, [worker])
    assert_done_exactly_once(operation, account_ids, "account.assigned")
    assert worker.alive()
    assert 'data-testid="waiting-for-worker"' not in client.get(detail).content.decode()


def test_cancel_and_retry_while_the_broker_is_down_answer_with_the_operation_page(
    transactional_db, app_on_private_redis, private_redis, supervisor, client, caplog
):
    accounts = create_accounts(5, company=supervisor.company)
    client.force_login(supervisor)
    private_redis.kill()

    # Confirmed while the broker is down: saved, queued, and told so.
    with caplog.at_level(logging.WARNING, logger="bulkops.services"):
        queued = services.start_operation(
            user=supervisor,
            action_key="stage",
            selection=Selection("accounts", ids=frozenset(a.pk for a in accounts)),
            confirmed_count=5,
            data={"stage": "sent"},
            idempotency_key=uuid.uuid4().hex,
        )
    assert queued.enqueued is False
    assert f"bulk operation {queued.pk}" in caplog.text

    response = client.post(reverse("bulkops:operation-cancel", args=[queued.pk]), follow=True)
    assert response.redirect_chain == [(reverse("bulkops:operation-detail", args=[queued.pk]), 302)]
    body = response.content.decode()
    assert "Cancelling" in body and QUEUE_UNREACHABLE in body
    queued.refresh_from_db()
    assert queued.cancel_requested and queued.status == Status.QUEUED
    services.run_operation(queued.pk)  # what the swept task does once Redis is back
    queued.refresh_from_db()
    assert queued.status == Status.CANCELLED

    # A finished operation with failures, retried while the broker is down.
    finished = BulkOperation.objects.create(
        kind="stage",
        company=supervisor.company,
        created_by=supervisor,
        parameters={"stage": "sent"},
        status=Status.FAILED,
        confirmed_count=5,
        total=5,
        processed=5,
        succeeded=3,
        failed=2,
    )
    BulkOperationItem.objects.bulk_create(
        BulkOperationItem(operation=finished, target_id=a.pk, outcome=o, reason=r)
        for a, o, r in zip(
            accounts,
            [Outcome.DONE] * 3 + [Outcome.FAILED] * 2,
            [""] * 3 + ["boom"] * 2,
            strict=True,
        )
    )
    response = client.post(reverse("bulkops:operation-retry", args=[finished.pk]), follow=True)
    assert response.redirect_chain == [
        (reverse("bulkops:operation-detail", args=[finished.pk]), 302)
    ]
    body = response.content.decode()
    assert "Retrying 2 failed account(s)." in body and QUEUE_UNREACHABLE in body
    finished.refresh_from_db()
    assert finished.status == Status.QUEUED and finished.failed == 0
