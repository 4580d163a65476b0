"""The bulk-operation engine with a REAL Celery worker (a separate process on
the same test database, through the real broker): an operation confirmed
with ``start_operation`` is enqueued on commit and run to the end, and a
worker SIGKILLed in the middle of an operation loses nothing and does
nothing twice once the sweeper hands the operation to a new worker."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from django.db import connection
from django.db.models import Count

from accounts.actions import AddRemoveFlags, ChangeStatusTo
from accounts.models import Account, AccountFlag, AccountStatus
from accounts.roles import SUPERVISOR
from bulkops import services
from bulkops.models import AuditEvent, BulkOperation, BulkOperationItem
from bulkops.selection import Selection
from tests.bulkops.conftest import make_accounts
from tests.factories import AccountStatusFactory, CompanyFactory, FlagFactory, UserFactory

pytestmark = pytest.mark.e2e

Outcome = BulkOperationItem.Outcome
Status = BulkOperation.Status

# Enough accounts for several chunks at the actions' own chunk sizes (the
# worker is another process: its chunk size cannot be patched from here).
STATUS_ACCOUNTS = 2 * ChangeStatusTo.chunk_size + 500  # 3 chunks
FLAG_ACCOUNTS = 5 * AddRemoveFlags.chunk_size  # 5 chunks
FINISH_TIMEOUT = 60


@pytest.fixture
def supervisor(roles):  # noqa: F811
    company = CompanyFactory(name="Acme Recovery")
    return UserFactory(username="sue", company=company, role=SUPERVISOR)


def start(user, action_key: str, data: dict, count: int) -> BulkOperation:
    """Confirm ``action_key`` over every account the user sees, as the dialog
    does; the operation is enqueued through the real broker on commit."""
    return services.start_operation(
        user=user,
        action_key=action_key,
        selection=Selection("accounts").select_all(),
        confirmed_count=count,
        data=data,
        idempotency_key=uuid.uuid4().hex,
    )


def wait_until_finished(operation: BulkOperation, workers) -> BulkOperation:
    deadline = time.monotonic() + FINISH_TIMEOUT
    while True:
        operation.refresh_from_db()
        if not operation.is_active:
            return operation
        logs = "\n".join(w.log()[-5000:] for w in workers)
        assert any(w.alive() for w in workers), f"every worker died:\n{logs}"
        assert not any(w.failed_tasks() for w in workers), f"a task failed:\n{logs}"
        assert time.monotonic() < deadline, (
            f"{operation} still {operation.status} ({operation.processed}/{operation.total}) "
            f"after {FINISH_TIMEOUT} s:\n{logs}"
        )
        time.sleep(0.1)


def wait_for_other_sessions_to_end(timeout: float = 15) -> None:
    """PostgreSQL: the server ends a killed client's session (rolling back its
    open transaction) when it next reads from the dead socket. Wait for that,
    so what this test reads next is final."""
    if connection.vendor != "postgresql":
        return  # SQLite: the killed process's uncommitted writes are simply gone
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
            if cursor.fetchone()[0] == 0:
                return
            assert time.monotonic() < deadline, "the killed worker's sessions never ended"
            time.sleep(0.05)


def assert_consistent(operation: BulkOperation, action: str) -> None:
    """Counters, outcomes and audit rows agree, whatever point the operation
    is at: each chunk commits all three together or none of them."""
    operation.refresh_from_db()
    settled = operation.items.with_settled_outcome()
    outcomes = dict(
        settled.values_list("settled_outcome")
        .annotate(n=Count("pk"))
        .values_list("settled_outcome", "n")
    )
    assert operation.processed == operation.total - outcomes.get(Outcome.PENDING, 0)
    assert operation.succeeded == outcomes.get(Outcome.DONE, 0)
    assert operation.skipped == outcomes.get(Outcome.SKIPPED, 0)
    assert operation.failed == outcomes.get(Outcome.FAILED, 0)
    assert operation.processed == operation.succeeded + operation.skipped + operation.failed
    events = AuditEvent.objects.filter(bulk_operation=operation, action=action)
    assert events.count() == operation.succeeded
    done = set(settled.filter(settled_outcome=Outcome.DONE).values_list("target_id", flat=True))
    assert set(events.values_list("object_id", flat=True)) == done


def assert_done_exactly_once(operation: BulkOperation, account_ids: list[int], action: str):
    """Succeeded; every account done, once: one audit row each, none skipped."""
    assert operation.status == Status.SUCCEEDED, (operation.status, operation.error)
    assert operation.total == operation.processed == operation.succeeded == len(account_ids)
    assert operation.skipped == operation.failed == 0
    settled = operation.items.with_settled_outcome()
    assert set(settled.values_list("settled_outcome", flat=True)) == {Outcome.DONE}
    assert_consistent(operation, action)
    events = AuditEvent.objects.filter(bulk_operation=operation, action=action)
    per_account = events.values("object_id").annotate(n=Count("pk"))
    assert per_account.filter(n__gt=1).count() == 0
    assert set(events.values_list("object_id", flat=True)) == set(account_ids)
    assert operation.finished_at is not None


# --- a whole operation -----------------------------------------------------------------


def test_worker_runs_a_confirmed_operation_to_the_end(celery_worker, supervisor):
    active = AccountStatusFactory(name="Active")
    dispute = AccountStatusFactory(name="Dispute")
    account_ids = make_accounts(
        STATUS_ACCOUNTS, company=supervisor.company, status=active, prefix="S"
    )

    operation = start(supervisor, "change_status", {"status": dispute.pk}, STATUS_ACCOUNTS)
    assert operation.total == STATUS_ACCOUNTS

    operation = wait_until_finished(operation, [celery_worker])
    assert_done_exactly_once(operation, account_ids, "account.status_changed")
    assert not Account.objects.exclude(status=dispute).exists()
    event = AuditEvent.objects.filter(bulk_operation=operation, object_id=account_ids[0]).get(
        action="account.status_changed"
    )
    assert event.changes == {"status": [active.pk, dispute.pk]}
    assert event.actor == supervisor
    assert operation.started_at is not None
    # The task ran in the worker process, not in this one.
    assert re.search(r"bulkops\.run_bulk_operation\[[-\w]+\] succeeded", celery_worker.log())


# --- SIGKILL in the middle ---------------------------------------------------------------


def kill_mid_operation(operation: BulkOperation, worker) -> bool:
    """SIGKILL the worker's process group as soon as some but not all chunks
    have committed. False if the operation finished before it could be."""
    deadline = time.monotonic() + FINISH_TIMEOUT
    while True:
        processed, status = BulkOperation.objects.values_list("processed", "status").get(
            pk=operation.pk
        )
        if 0 < processed < operation.total:
            worker.kill()
            return True
        if status not in BulkOperation.ACTIVE:
            return False
        assert worker.alive() and not worker.failed_tasks(), worker.log()
        assert time.monotonic() < deadline, f"no chunk committed:\n{worker.log()}"
        time.sleep(0.005)


def test_sigkilled_worker_loses_nothing_and_repeats_nothing(celery_workers, supervisor):
    active = AccountStatusFactory(name="Active", category=AccountStatus.Category.ACTIVE)
    account_ids = make_accounts(
        FLAG_ACCOUNTS, company=supervisor.company, status=active, prefix="K"
    )
    first_worker = celery_workers.start()

    # Each attempt adds a new flag; an attempt whose operation finished before
    # the kill landed is still checked, then the next one tries again.
    for attempt in range(1, 4):
        flag = FlagFactory(name=f"Hardship {attempt}")
        operation = start(supervisor, "flags", {"add": [flag.pk]}, FLAG_ACCOUNTS)
        assert operation.total == FLAG_ACCOUNTS
        if kill_mid_operation(operation, first_worker):
            break
        operation.refresh_from_db()
        assert_done_exactly_once(operation, account_ids, "account.flags_changed")
    else:
        pytest.fail("the operation finished every time before the worker could be killed")

    # Dead mid-operation: some chunks committed, the rest still pending, and
    # the chunk it was in the middle of left no trace.
    wait_for_other_sessions_to_end()
    operation.refresh_from_db()
    assert operation.status == Status.RUNNING
    assert 0 < operation.processed < operation.total
    pending = operation.items.unprocessed().count()
    assert pending == operation.total - operation.processed > 0
    assert_consistent(operation, "account.flags_changed")
    assert AccountFlag.objects.filter(flag=flag).count() == operation.succeeded
    killed_at_processed = operation.processed

    # A new worker, and the sweep beat runs every 30 s, hand the operation over.
    second_worker = celery_workers.start()
    assert operation.pk in services.sweep_stale_operations(stale_after_seconds=0)
    operation = wait_until_finished(operation, [second_worker])

    assert_done_exactly_once(operation, account_ids, "account.flags_changed")
    flags = AccountFlag.objects.filter(flag=flag)
    assert flags.count() == FLAG_ACCOUNTS
    assert set(flags.values_list("account_id", flat=True)) == set(account_ids)
    duplicates = AccountFlag.objects.values("account_id", "flag_id").annotate(n=Count("pk"))
    assert not duplicates.filter(n__gt=1).exists()
    event = AuditEvent.objects.get(
        bulk_operation=operation, action="account.flags_changed", object_id=account_ids[-1]
    )
    earlier = [f"Hardship {n}" for n in range(1, attempt)]  # earlier attempts' flags
    assert event.changes == {"flags": [earlier, sorted([*earlier, flag.name])]}
    assert killed_at_processed < operation.processed


# --- export, and the purge of its expired file -------------------------------------------


@pytest.fixture(params=["media", "bucket"])
def export_storage(request, celery_workers):
    """Where exports go, for this process and the workers started after it:
    MEDIA_ROOT, or a bucket of the S3 server on loopback (conftest)."""
    if request.param == "bucket":
        celery_workers.env.update(request.getfixturevalue("bucket").environment)
    return request.param


def test_worker_exports_a_csv_and_beat_task_purges_it_once_expired(
    export_storage, celery_worker, supervisor
):
    """The Export action and the hourly purge task, both in the worker process
    (on PostgreSQL the CSV is made by COPY there), with the file in MEDIA_ROOT
    or in a bucket."""
    import datetime as dt

    from django.core.files.storage import default_storage
    from django.utils import timezone

    from bulkops.models import ExportFile
    from bulkops.tasks import purge_expired_exports

    active = AccountStatusFactory(name="Active")
    make_accounts(300, company=supervisor.company, status=active, prefix="X")
    data = {"format": "csv", "columns": ["file_number", "status"], "mask": []}
    operation = wait_until_finished(start(supervisor, "export", data, 300), [celery_worker])
    assert (operation.status, operation.succeeded) == (Status.SUCCEEDED, 300)
    export_file = ExportFile.objects.get(operation=operation)
    with default_storage.open(export_file.name, "rb") as handle:
        content = handle.read()
    expected = "File Number,Status\r\n" + "".join(f"X{i:07d},Active\r\n" for i in range(300))
    assert content == "\ufeff".encode() + expected.encode()

    ExportFile.objects.filter(pk=export_file.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    purge_expired_exports.delay()
    deadline = time.monotonic() + FINISH_TIMEOUT
    while ExportFile.objects.filter(pk=export_file.pk, purged_at__isnull=True).exists():
        assert not celery_worker.failed_tasks(), celery_worker.log()
        assert time.monotonic() < deadline, f"the purge never ran:\n{celery_worker.log()}"
        time.sleep(0.1)
    assert not default_storage.exists(export_file.name)
    assert re.search(r"bulkops\.purge_expired_exports\[[-\w]+\] succeeded", celery_worker.log())
