"""The bulk-operation engine in-process (bulkops.services): confirming
(snapshot, idempotency, refusals, enqueue on commit), the chunked runner
(counters, cancellation, a failing chunk, retry) and the sweeper.

The on-commit enqueue is replaced by a recorder and the worker's loop is
called directly; the tests with a real Celery worker live elsewhere."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.utils import timezone

from accounts.actions import UpdateStage
from accounts.models import Account, AccountStatus
from accounts.roles import SUPERVISOR
from bulkops import services
from bulkops.models import AuditEvent, BulkOperation, BulkOperationItem
from bulkops.selection import Selection
from bulkops.services import engine
from tests.factories import (
    AccountStatusFactory,
    BulkOperationFactory,
    BulkOperationItemFactory,
    UserFactory,
    create_accounts,
)

pytestmark = pytest.mark.django_db

Outcome = BulkOperationItem.Outcome
Status = BulkOperation.Status


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """Operation IDs handed to the queue, in order (nothing reaches Celery)."""
    calls: list[int] = []
    monkeypatch.setattr(engine, "enqueue_operation", calls.append)
    return calls


@pytest.fixture
def accounts(company):
    return create_accounts(7, company=company)


@pytest.fixture
def theirs(other_company):
    return create_accounts(3, company=other_company)


def ids_of(accounts) -> list[int]:
    return [a.pk for a in accounts]


def start(user, ids, *, action="stage", data=None, count=None, key=None, selection=None):
    return services.start_operation(
        user=user,
        action_key=action,
        selection=selection if selection is not None else Selection("accounts", ids=frozenset(ids)),
        confirmed_count=len(ids) if count is None else count,
        data={"stage": "sent"} if data is None else data,
        idempotency_key=key or uuid.uuid4().hex,
    )


def outcomes(operation) -> dict[int, tuple[str, str]]:
    return {
        target_id: (outcome, reason)
        for target_id, outcome, reason in operation.items.with_settled_outcome().values_list(
            "target_id", "settled_outcome", "reason"
        )
    }


def counters(operation) -> tuple[int, int, int, int]:
    operation.refresh_from_db()
    return operation.processed, operation.succeeded, operation.skipped, operation.failed


def stages(accounts) -> list[str]:
    by_pk = dict(Account.objects.filter(pk__in=ids_of(accounts)).values_list("pk", "stage"))
    return [by_pk[a.pk] for a in accounts]


# --- confirming ------------------------------------------------------------------------


def test_start_snapshots_the_selection_and_enqueues_on_commit_only(
    supervisor, accounts, enqueued, django_capture_on_commit_callbacks
):
    picked = ids_of(accounts[:5])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        operation = start(supervisor, picked, key="k" * 64)
        # Inside the transaction nothing is queued yet.
        assert enqueued == []
    assert len(callbacks) == 1
    assert enqueued == [operation.pk]

    operation.refresh_from_db()
    assert operation.kind == "stage"
    assert operation.company == supervisor.company
    assert operation.created_by == supervisor
    assert operation.status == Status.QUEUED
    assert operation.parameters == {"stage": "sent"}
    assert operation.selection == Selection("accounts", ids=frozenset(picked)).to_dict()
    assert operation.confirmed_count == operation.total == 5
    assert (operation.processed, operation.succeeded, operation.skipped, operation.failed) == (
        0,
        0,
        0,
        0,
    )
    assert operation.idempotency_key == "k" * 64
    assert 0 <= operation.seed < 2**31
    assert sorted(operation.items.values_list("target_id", flat=True)) == sorted(picked)
    assert set(operation.items.values_list("outcome", flat=True)) == {Outcome.PENDING}
    # Confirming changes no account.
    assert stages(accounts) == ["not_set"] * 7

    started = AuditEvent.objects.get(action="bulk_operation.started")
    assert started.actor == supervisor
    assert started.bulk_operation == operation
    assert (started.object_type, started.object_id) == ("bulkops.bulkoperation", operation.pk)
    assert started.changes == {"kind": [None, "stage"], "total": [None, 5]}


def test_a_refused_start_enqueues_nothing(
    supervisor, accounts, enqueued, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(services.CountChanged),
    ):
        start(supervisor, ids_of(accounts), count=99)
    assert callbacks == [] and enqueued == []
    assert not BulkOperation.objects.exists()


def test_all_matching_selection_with_exclusions(supervisor, accounts, theirs):
    selection = Selection("accounts").select_all().toggle(accounts[0].pk, False)
    operation = start(supervisor, [], selection=selection, count=6)
    assert sorted(operation.items.values_list("target_id", flat=True)) == ids_of(accounts[1:])
    assert operation.selection["all_matching"] is True


def test_selection_never_reaches_another_companys_accounts(supervisor, accounts, theirs):
    mixed = Selection("accounts", ids=frozenset(ids_of(accounts[:2]) + ids_of(theirs)))
    # The visible count is 2: confirming the 5 IDs sent is refused ...
    with pytest.raises(services.CountChanged) as excinfo:
        start(supervisor, [], selection=mixed, count=5)
    assert excinfo.value.current == 2
    # ... and confirming 2 snapshots only the company's own accounts.
    operation = start(supervisor, [], selection=mixed, count=2)
    assert sorted(operation.items.values_list("target_id", flat=True)) == ids_of(accounts[:2])
    services.run_operation(operation.pk)
    assert set(Account.objects.filter(pk__in=ids_of(theirs)).values_list("stage", flat=True)) == {
        "not_set"
    }


def test_only_foreign_ids_select_nothing(supervisor, theirs):
    with pytest.raises(services.OperationRefused, match="No accounts are selected."):
        start(supervisor, ids_of(theirs), count=0)
    assert not BulkOperation.objects.exists()


def test_an_empty_selection_is_refused(supervisor, accounts):
    with pytest.raises(services.OperationRefused) as excinfo:
        start(supervisor, [], selection=Selection("accounts"), count=0)
    assert str(excinfo.value) == "No accounts are selected."
    assert not isinstance(excinfo.value, services.CountChanged)
    assert not BulkOperation.objects.exists()
    assert not BulkOperationItem.objects.exists()


def test_count_changed_reports_the_new_count_and_changes_nothing(
    supervisor, accounts, other_company
):
    picked = ids_of(accounts[:5])
    # One of the picked accounts went to another company after the dialog opened.
    Account.objects.filter(pk=picked[0]).update(company=other_company)
    with pytest.raises(services.CountChanged) as excinfo:
        start(supervisor, picked, count=5)
    assert (excinfo.value.confirmed, excinfo.value.current) == (5, 4)
    assert str(excinfo.value) == (
        "The selection now holds 4 accounts, not the 5 you confirmed. "
        "Check the number and confirm again."
    )
    assert not BulkOperation.objects.exists()
    assert not AuditEvent.objects.exists()
    # Confirming the new number goes through.
    operation = start(supervisor, picked, count=4)
    assert operation.total == 4


def test_count_changed_message_groups_thousands():
    assert "holds 1,234 accounts, not the 12,345 you" in str(
        services.CountChanged(12345, 1234, "accounts")
    )


def test_unknown_action_is_refused(supervisor, accounts):
    with pytest.raises(services.OperationRefused, match="Unknown bulk action."):
        start(supervisor, ids_of(accounts), action="explode")


def test_a_user_without_the_actions_permission_is_refused(collector, accounts):
    assert not collector.has_perm("accounts.update_account_stage")
    with pytest.raises(services.OperationRefused) as excinfo:
        start(collector, ids_of(accounts))
    assert str(excinfo.value) == "You do not have permission to run “Update Stage”."
    assert not BulkOperation.objects.exists()


def test_invalid_parameters_are_refused_with_the_bound_form(supervisor, accounts):
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(supervisor, ids_of(accounts), data={"stage": "shipped"})
    assert "stage" in excinfo.value.form.errors
    assert str(excinfo.value) == "Correct the highlighted fields."
    assert not BulkOperation.objects.exists()


# --- duplicates: idempotency and overlap -----------------------------------------------------


def test_a_double_clicked_confirm_creates_one_operation(
    supervisor, accounts, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = start(supervisor, ids_of(accounts), key="same-key")
        second = start(supervisor, ids_of(accounts), key="same-key")
    assert second.pk == first.pk
    assert BulkOperation.objects.count() == 1
    assert BulkOperationItem.objects.count() == 7
    assert len(callbacks) == 1 and enqueued == [first.pk]
    # Even with a count that changed since: the first click's operation stands.
    Account.objects.filter(pk=accounts[0].pk).delete()
    assert start(supervisor, ids_of(accounts), key="same-key").pk == first.pk


def test_the_same_key_from_another_user_is_refused(supervisor, company, accounts):
    start(supervisor, ids_of(accounts), key="shared-key")
    other = UserFactory(company=company, role=SUPERVISOR)
    with pytest.raises(services.OperationRefused, match="This dialog is out of date"):
        start(other, ids_of(accounts), key="shared-key")
    assert BulkOperation.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 65])
def test_a_missing_or_oversized_key_is_refused(supervisor, accounts, key):
    with pytest.raises(services.OperationRefused, match="This dialog is out of date"):
        services.start_operation(
            user=supervisor,
            action_key="stage",
            selection=Selection("accounts", ids=frozenset(ids_of(accounts))),
            confirmed_count=7,
            data={"stage": "sent"},
            idempotency_key=key,
        )
    assert not BulkOperation.objects.exists()


class RacingSelection:
    """A selection whose resolving lets a concurrent request (the other
    click) commit an operation with the same key after the duplicate check."""

    def __init__(self, inner: Selection, rival):
        self.inner, self.rival = inner, rival
        self.selectable = inner.selectable

    def resolve(self, user):
        self.rival()
        return self.inner.resolve(user)

    def count(self, user, **kwargs):
        return self.inner.count(user, **kwargs)

    def to_dict(self):
        return self.inner.to_dict()


def test_a_concurrent_commit_of_the_same_key_returns_that_operation(
    supervisor, accounts, enqueued, django_capture_on_commit_callbacks
):
    rivals = []

    def rival():
        rivals.append(
            BulkOperationFactory(
                created_by=supervisor, idempotency_key="racing", status=Status.QUEUED
            )
        )

    selection = RacingSelection(Selection("accounts", ids=frozenset(ids_of(accounts))), rival)
    with django_capture_on_commit_callbacks(execute=True):
        operation = start(supervisor, ids_of(accounts), key="racing", selection=selection)
    assert operation.pk == rivals[0].pk
    assert BulkOperation.objects.count() == 1
    # The losing attempt's snapshot and audit were rolled back with it.
    assert not BulkOperationItem.objects.exists()
    assert not AuditEvent.objects.filter(action="bulk_operation.started").exists()
    assert enqueued == []


def test_an_operation_over_accounts_a_running_one_holds_is_refused(supervisor, accounts):
    first = start(supervisor, ids_of(accounts[:4]))
    with pytest.raises(services.OperationRefused) as excinfo:
        start(
            supervisor,
            ids_of(accounts[3:6]),
            action="change_status",
            data={"status": AccountStatusFactory(name="Disputed").pk},
        )
    assert str(excinfo.value) == (
        f"Bulk operation #{first.pk} (Update Stage) is still working on some of these "
        "accounts. Wait for it to finish, or cancel it, and try again."
    )
    # Nothing of the refused operation remains.
    assert list(BulkOperation.objects.values_list("pk", flat=True)) == [first.pk]
    assert BulkOperationItem.objects.count() == 4
    assert AuditEvent.objects.filter(action="bulk_operation.started").count() == 1

    # Accounts the first does not hold are free.
    start(supervisor, ids_of(accounts[4:6]))
    # Once the first finished its accounts are free too.
    services.run_operation(first.pk)
    assert start(supervisor, ids_of(accounts[3:4])).total == 1


def test_a_running_operation_holds_only_its_pending_accounts(supervisor, accounts, monkeypatch):
    monkeypatch.setattr(UpdateStage, "chunk_size", 3)
    first = start(supervisor, ids_of(accounts))
    assert services.process_next_chunk(first.pk) == "continue"
    # accounts[:3] are done: free for another operation; accounts[3:] are not.
    start(supervisor, ids_of(accounts[:3]), data={"stage": "pending"})
    with pytest.raises(services.OperationRefused, match=f"#{first.pk}"):
        start(supervisor, ids_of(accounts[2:4]), data={"stage": "pending"})


def test_cancelled_and_finished_operations_hold_nothing(supervisor, accounts):
    cancelled = start(supervisor, ids_of(accounts[:2]))
    services.request_cancel(user=supervisor, operation=cancelled)
    assert services.run_operation(cancelled.pk) == "cancelled"
    assert start(supervisor, ids_of(accounts[:2])).total == 2


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's IMMEDIATE transactions serialise the two confirms",
)
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_confirms_over_the_same_accounts_make_one_operation(company, monkeypatch):
    user = UserFactory(company=company)
    user.user_permissions.add(Permission.objects.get(codename="update_account_stage"))
    accounts = create_accounts(6, company=company)
    # Both requests have snapshotted and checked before either commits.
    both_checked = threading.Barrier(2, timeout=3)
    check = engine.overlapping_operation

    def check_then_wait(operation):
        clash = check(operation)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait()
        return clash

    monkeypatch.setattr(engine, "overlapping_operation", check_then_wait)
    results = []

    def confirm(picked):
        try:
            results.append(start(user, ids_of(picked)))
        except services.OperationRefused as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=confirm, args=(accounts[:4],)),
        threading.Thread(target=confirm, args=(accounts[2:],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2
    assert BulkOperation.objects.count() == 1
    assert sum(isinstance(r, services.OperationRefused) for r in results) == 1


# --- the runner: chunks and counters ----------------------------------------------------


def test_chunks_commit_outcomes_and_counters_one_at_a_time(supervisor, accounts, monkeypatch):
    monkeypatch.setattr(UpdateStage, "chunk_size", 3)
    Account.objects.filter(pk=accounts[4].pk).update(stage="sent")
    operation = start(supervisor, ids_of(accounts))
    events = AuditEvent.objects.filter(action="account.stage_updated", bulk_operation=operation)

    assert services.process_next_chunk(operation.pk) == "continue"
    assert counters(operation) == (3, 3, 0, 0)
    assert operation.status == Status.RUNNING
    assert operation.started_at is not None and operation.heartbeat_at is not None
    assert operation.finished_at is None
    assert stages(accounts) == ["sent"] * 3 + ["not_set", "sent", "not_set", "not_set"]
    assert events.count() == 3
    by_account = outcomes(operation)
    assert [by_account[a.pk][0] for a in accounts] == [Outcome.DONE] * 3 + [Outcome.PENDING] * 4
    first_started = operation.started_at

    assert services.process_next_chunk(operation.pk) == "continue"
    assert counters(operation) == (6, 5, 1, 0)
    assert operation.started_at == first_started
    by_account = outcomes(operation)
    assert by_account[accounts[4].pk] == (Outcome.SKIPPED, "Already Sent")
    assert [by_account[a.pk][0] for a in accounts[3:6]] == [
        Outcome.DONE,
        Outcome.SKIPPED,
        Outcome.DONE,
    ]
    assert by_account[accounts[6].pk][0] == Outcome.PENDING
    assert events.count() == 5

    # The last chunk is short; the operation finishes on the next call.
    assert services.process_next_chunk(operation.pk) == "continue"
    assert counters(operation) == (7, 6, 1, 0)
    assert operation.status == Status.RUNNING
    assert services.process_next_chunk(operation.pk) == "finished"
    operation.refresh_from_db()
    assert operation.status == Status.SUCCEEDED
    assert operation.finished_at is not None and operation.percent == 100
    assert stages(accounts) == ["sent"] * 7
    assert events.count() == 6
    assert not operation.items.unprocessed().exists()
    # Skipped and failed items say when; done ones are done by the cursor.
    assert not operation.items.exclude(outcome=Outcome.PENDING).filter(processed_at=None).exists()

    # A finished operation stays finished.
    assert services.process_next_chunk(operation.pk) == "finished"
    assert services.run_operation(operation.pk) == "finished"
    assert counters(operation) == (7, 6, 1, 0)


def test_run_operation_runs_every_chunk(supervisor, accounts, monkeypatch):
    monkeypatch.setattr(UpdateStage, "chunk_size", 2)
    calls = []
    original = services.process_next_chunk
    monkeypatch.setattr(engine, "process_next_chunk", lambda pk: calls.append(pk) or original(pk))
    operation = start(supervisor, ids_of(accounts))
    assert services.run_operation(operation.pk) == "finished"
    assert len(calls) == 5  # four chunks of at most two, then "finished"
    assert counters(operation) == (7, 7, 0, 0)
    assert operation.status == Status.SUCCEEDED


def test_an_operation_of_an_action_that_no_longer_exists_fails_its_items(supervisor, company):
    operation = BulkOperationFactory(
        kind="retired_action", created_by=supervisor, status=Status.QUEUED, total=2
    )
    for account in create_accounts(2, company=company):
        BulkOperationItemFactory(operation=operation, account=account, outcome=Outcome.PENDING)
    assert services.run_operation(operation.pk) == "finished"
    assert counters(operation) == (2, 0, 0, 2)
    assert operation.status == Status.FAILED
    assert set(outcomes(operation).values()) == {
        (Outcome.FAILED, "This kind of bulk action no longer exists.")
    }


# --- cancellation ---------------------------------------------------------------------


def test_cancel_stops_the_operation_between_chunks(
    supervisor, accounts, monkeypatch, enqueued, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(UpdateStage, "chunk_size", 3)
    operation = start(supervisor, ids_of(accounts))
    assert services.process_next_chunk(operation.pk) == "continue"

    operation.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        services.request_cancel(user=supervisor, operation=operation)
        assert enqueued == []
    # Enqueued so a queued operation without a worker still gets marked.
    assert enqueued == [operation.pk]
    operation.refresh_from_db()
    assert operation.cancel_requested and operation.status == Status.RUNNING
    event = AuditEvent.objects.get(action="bulk_operation.cancel_requested")
    assert (event.actor, event.bulk_operation) == (supervisor, operation)
    assert event.changes == {"cancel_requested": [False, True]}

    assert services.process_next_chunk(operation.pk) == "cancelled"
    # Processed, succeeded, skipped, failed: the 4 never processed are settled
    # as skipped ("cancelled"), so a later Retry can never pick them up.
    assert counters(operation) == (3, 3, 4, 0)
    assert operation.status == Status.CANCELLED and operation.finished_at is not None
    # The chunk already applied stays; the rest is untouched.
    assert stages(accounts) == ["sent"] * 3 + ["not_set"] * 4
    settled = operation.items.with_settled_outcome()
    assert settled.filter(settled_outcome=Outcome.PENDING).count() == 0
    assert set(
        operation.items.filter(outcome=Outcome.SKIPPED).values_list("reason", flat=True)
    ) == {services.CANCELLED_REASON}
    assert services.run_operation(operation.pk) == "finished"
    assert stages(accounts) == ["sent"] * 3 + ["not_set"] * 4

    with pytest.raises(services.OperationRefused, match="already finished"):
        services.request_cancel(user=supervisor, operation=operation)
    assert AuditEvent.objects.filter(action="bulk_operation.cancel_requested").count() == 1


def test_cancelling_a_queued_operation_before_any_chunk(supervisor, accounts):
    operation = start(supervisor, ids_of(accounts))
    services.request_cancel(user=supervisor, operation=operation)
    assert services.run_operation(operation.pk) == "cancelled"
    operation.refresh_from_db()
    assert operation.status == Status.CANCELLED
    assert operation.started_at is None and operation.processed == 0
    assert stages(accounts) == ["not_set"] * 7


# --- a failing chunk and retry ---------------------------------------------------------


def test_a_failing_chunk_rolls_back_alone_and_retry_runs_its_accounts_again(
    supervisor, accounts, monkeypatch, enqueued, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(UpdateStage, "chunk_size", 3)
    original_apply = UpdateStage.apply
    doomed = accounts[3].pk

    def apply_then_fail_on_the_second_chunk(self, items, operation):
        outcomes = original_apply(self, items, operation)  # changes made, then ...
        if doomed in {item.target_id for item in items}:
            raise RuntimeError("the disk is full")
        return outcomes

    monkeypatch.setattr(UpdateStage, "apply", apply_then_fail_on_the_second_chunk)
    operation = start(supervisor, ids_of(accounts))
    assert services.run_operation(operation.pk) == "finished"

    assert counters(operation) == (7, 4, 0, 3)
    assert operation.status == Status.FAILED
    # The failing chunk's changes and audit rolled back; the others stand.
    assert stages(accounts) == ["sent"] * 3 + ["not_set"] * 3 + ["sent"]
    audited = set(
        AuditEvent.objects.filter(action="account.stage_updated").values_list(
            "object_id", flat=True
        )
    )
    assert audited == set(ids_of(accounts[:3] + accounts[6:]))
    by_account = outcomes(operation)
    for account in accounts[3:6]:
        assert by_account[account.pk] == (Outcome.FAILED, "RuntimeError: the disk is full")
    for account in accounts[:3] + accounts[6:]:
        assert by_account[account.pk] == (Outcome.DONE, "")

    # The fault is gone: retry the failed accounts.
    monkeypatch.setattr(UpdateStage, "apply", original_apply)
    operation.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.retry_failed(user=supervisor, operation=operation) == 3
        assert enqueued == []
    assert enqueued == [operation.pk]
    assert counters(operation) == (4, 4, 0, 0)
    assert operation.status == Status.QUEUED and operation.finished_at is None
    assert operation.items.filter(outcome=Outcome.PENDING, reason="").count() == 3
    retried = AuditEvent.objects.get(action="bulk_operation.retried")
    assert (retried.actor, retried.bulk_operation) == (supervisor, operation)
    assert retried.changes == {"retried_accounts": [None, 3]}

    assert services.run_operation(operation.pk) == "finished"
    assert counters(operation) == (7, 7, 0, 0)
    assert operation.status == Status.SUCCEEDED
    assert stages(accounts) == ["sent"] * 7


def test_failures_an_action_reports_count_as_failed(supervisor, accounts, monkeypatch):
    from bulkops.registry import Outcomes

    def fail_odd_ones(self, items, operation):
        outcomes = Outcomes()
        outcomes.fail([i.target_id for i in items if i.target_id % 2], "Odd one out")
        return outcomes

    monkeypatch.setattr(UpdateStage, "apply", fail_odd_ones)
    operation = start(supervisor, ids_of(accounts))
    services.run_operation(operation.pk)
    odd = sum(1 for a in accounts if a.pk % 2)
    assert counters(operation) == (7, 7 - odd, 0, odd)
    assert operation.status == (Status.FAILED if odd else Status.SUCCEEDED)


def test_retry_is_refused_while_running_or_without_failures(supervisor, accounts):
    operation = start(supervisor, ids_of(accounts))
    with pytest.raises(services.OperationRefused, match="Wait for the operation to finish"):
        services.retry_failed(user=supervisor, operation=operation)
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    with pytest.raises(services.OperationRefused, match="No accounts failed"):
        services.retry_failed(user=supervisor, operation=operation)
    operation.refresh_from_db()
    assert operation.status == Status.SUCCEEDED
    assert not AuditEvent.objects.filter(action="bulk_operation.retried").exists()


def test_retry_after_a_cancel_reruns_only_the_failed_accounts(supervisor, accounts, monkeypatch):
    """Cancelled accounts were never processed on purpose: retrying the
    failed ones must not resume the cancelled rest."""
    monkeypatch.setattr(UpdateStage, "chunk_size", 3)
    original_apply = UpdateStage.apply

    def fail_first_chunk(self, items, operation):
        if accounts[0].pk in {item.target_id for item in items}:
            raise RuntimeError("boom")
        return original_apply(self, items, operation)

    monkeypatch.setattr(UpdateStage, "apply", fail_first_chunk)
    operation = start(supervisor, ids_of(accounts))
    assert services.process_next_chunk(operation.pk) == "continue"
    operation.refresh_from_db()
    services.request_cancel(user=supervisor, operation=operation)
    assert services.run_operation(operation.pk) == "cancelled"
    assert counters(operation) == (3, 0, 4, 3)

    monkeypatch.setattr(UpdateStage, "apply", original_apply)
    operation.refresh_from_db()
    assert services.retry_failed(user=supervisor, operation=operation) == 3
    services.run_operation(operation.pk)
    # The three failed accounts are done now; the four cancelled ones untouched.
    assert stages(accounts) == ["sent"] * 3 + ["not_set"] * 4
    assert counters(operation)[:2] == (3, 3)


def test_retry_is_refused_while_another_operation_holds_the_accounts(
    supervisor, accounts, monkeypatch
):
    def always_fail(self, items, operation):
        raise RuntimeError("boom")

    original_apply = UpdateStage.apply
    monkeypatch.setattr(UpdateStage, "apply", always_fail)
    failed = start(supervisor, ids_of(accounts[:3]))
    services.run_operation(failed.pk)
    monkeypatch.setattr(UpdateStage, "apply", original_apply)
    # The failed operation finished, so a new one over its accounts is allowed ...
    holder = start(supervisor, ids_of(accounts[:3]), data={"stage": "pending"})
    failed.refresh_from_db()
    # ... and while that one runs, retrying the first must be refused like a start.
    with pytest.raises(services.OperationRefused, match=f"#{holder.pk}"):
        services.retry_failed(user=supervisor, operation=failed)


# --- run-time deactivation reaches the items ----------------------------------------------


def test_a_status_deactivated_after_confirming_fails_the_items(supervisor, accounts):
    disputed = AccountStatusFactory(name="Disputed")
    operation = start(
        supervisor, ids_of(accounts), action="change_status", data={"status": disputed.pk}
    )
    AccountStatus.objects.filter(pk=disputed.pk).update(is_active=False)
    services.run_operation(operation.pk)
    assert counters(operation) == (7, 0, 0, 7)
    assert operation.status == Status.FAILED
    assert set(outcomes(operation).values()) == {
        (Outcome.FAILED, "The status was deactivated after confirming.")
    }
    assert not Account.objects.filter(status=disputed).exists()


# --- the sweeper -----------------------------------------------------------------------


def test_sweep_re_enqueues_only_stale_active_operations(supervisor, enqueued):
    now = timezone.now()
    old = now - dt.timedelta(minutes=5)
    recent = now - dt.timedelta(seconds=10)

    def op(status, *, created_at, heartbeat_at=None):
        return BulkOperationFactory(
            created_by=supervisor, status=status, created_at=created_at, heartbeat_at=heartbeat_at
        )

    stale_queued = op(Status.QUEUED, created_at=old)
    stale_running = op(Status.RUNNING, created_at=old, heartbeat_at=old)
    op(Status.QUEUED, created_at=recent)  # just confirmed
    op(Status.RUNNING, created_at=old, heartbeat_at=recent)  # a live worker
    op(Status.QUEUED, created_at=old, heartbeat_at=recent)  # retried, worker on it
    op(Status.SUCCEEDED, created_at=old, heartbeat_at=old)
    op(Status.FAILED, created_at=old, heartbeat_at=old)
    op(Status.CANCELLED, created_at=old)

    swept = services.sweep_stale_operations()
    assert sorted(swept) == sorted([stale_queued.pk, stale_running.pk])
    assert sorted(enqueued) == sorted(swept)

    enqueued.clear()
    assert services.sweep_stale_operations(stale_after_seconds=3600) == []
    assert enqueued == []
    # With a shorter threshold the recently-beating ones are stale too.
    assert len(services.sweep_stale_operations(stale_after_seconds=1)) == 5


def test_sweeping_an_abandoned_running_operation_lets_it_finish(supervisor, accounts, enqueued):
    operation = start(supervisor, ids_of(accounts))
    BulkOperation.objects.filter(pk=operation.pk).update(
        status=Status.RUNNING,
        created_at=timezone.now() - dt.timedelta(minutes=5),
        heartbeat_at=timezone.now() - dt.timedelta(minutes=5),
    )
    assert services.sweep_stale_operations() == [operation.pk]
    for operation_id in enqueued:
        services.run_operation(operation_id)
    assert counters(operation) == (7, 7, 0, 0)
    assert operation.status == Status.SUCCEEDED


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's IMMEDIATE transactions serialise the two confirms",
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second", ["grantee", "platform"])
def test_two_companies_confirming_over_a_shared_account_make_one_operation(
    company, other_company, monkeypatch, second
):
    """An account of ``company`` granted to ``other_company`` (or seen by the
    platform operator): a confirmation from each side at the same moment."""
    from accounts.models import AccountAccess

    owner = UserFactory(company=company)
    if second == "grantee":
        other = UserFactory(company=other_company)
    else:
        other = UserFactory(company=None, is_superuser=True)
    for user in (owner, other):
        user.user_permissions.add(Permission.objects.get(codename="update_account_stage"))
    ours = create_accounts(3, company=company)
    AccountAccess.objects.create(company=other_company, account=ours[0])
    both_checked = threading.Barrier(2, timeout=3)
    check = engine.overlapping_operation

    def check_then_wait(operation):
        clash = check(operation)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait()
        return clash

    monkeypatch.setattr(engine, "overlapping_operation", check_then_wait)
    results = []

    def confirm(user, picked):
        try:
            results.append(start(user, ids_of(picked)))
        except services.OperationRefused as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=confirm, args=(owner, ours)),
        threading.Thread(target=confirm, args=(other, ours[:1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2
    assert BulkOperation.objects.count() == 1
    [refused] = [r for r in results if isinstance(r, services.OperationRefused)]
    assert "is still working on some of these accounts" in str(refused)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks")
@pytest.mark.django_db(transaction=True)
def test_companies_sharing_nothing_do_not_wait_for_each_other(company, other_company):
    """The lock is on what the companies share: with nothing shared, a start
    of one company does not wait while another company's start is open."""
    import psycopg2

    first = UserFactory(company=company)
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"],
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    )
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SET lock_timeout = '2s'")
            cursor.execute(
                "SELECT pg_advisory_xact_lock_shared(hashtext(%s), 0)", [engine.START_LOCK]
            )
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s), %s)",
                [engine.START_LOCK, other_company.pk],
            )
            with transaction.atomic():
                connection.cursor().execute("SET LOCAL lock_timeout = '2s'")
                engine.serialise_starts(first, "accounts")  # would time out if it waited
            cursor.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner statistics")
def test_a_large_operation_refreshes_the_audit_tables_statistics(supervisor, accounts, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    analyze = f'ANALYZE "{AuditEvent._meta.db_table}"'

    def statements_of_a_run() -> list[str]:
        Account.objects.update(stage="not_set")
        operation = start(supervisor, ids_of(accounts))
        with CaptureQueriesContext(connection) as captured:
            assert services.run_operation(operation.pk) == "finished"
        return [query["sql"] for query in captured.captured_queries]

    assert analyze not in statements_of_a_run()  # a small operation: not worth it
    monkeypatch.setattr(engine, "ANALYZE_AFTER_ROWS", len(accounts))
    assert analyze in statements_of_a_run()


def test_a_done_row_shows_the_time_of_its_chunk(supervisor, accounts, monkeypatch, client):
    """Done is recorded by the cursor, not by writing each item: the page and
    the CSV give a done row the time its chunk committed, and a retry keeps
    the first run's times for the rows that run did."""
    import re

    from django.urls import reverse

    from bulkops.models import BulkOperationChunk

    monkeypatch.setattr(UpdateStage, "chunk_size", 4)
    operation = start(supervisor, ids_of(accounts))
    services.run_operation(operation.pk)
    chunks = list(BulkOperationChunk.objects.filter(operation=operation).order_by("pk"))
    assert [(c.rows, c.first_target_id) for c in chunks] == [
        (4, accounts[0].pk),
        (3, accounts[4].pk),
    ]
    client.force_login(supervisor)
    page = client.get(reverse("bulkops:operation-detail", args=[operation.pk])).content.decode()
    shown = re.findall(r"<td>Done</td><td></td><td>([^<]*)</td>", page)
    assert (
        shown
        == [timezone.localtime(chunks[0].committed_at).strftime("%Y-%m-%d %H:%M:%S")] * 4
        + [timezone.localtime(chunks[1].committed_at).strftime("%Y-%m-%d %H:%M:%S")] * 3
    )
    csv_text = b"".join(
        client.get(reverse("bulkops:operation-items-csv", args=[operation.pk])).streaming_content
    ).decode()
    assert csv_text.count(chunks[0].committed_at.isoformat()) == 4

    # A retry: the first run's done rows keep their chunk's time.
    BulkOperationItem.objects.filter(operation=operation, target_id=accounts[6].pk).update(
        outcome=Outcome.FAILED, reason="boom"
    )
    BulkOperation.objects.filter(pk=operation.pk).update(failed=1, succeeded=6, status="failed")
    operation.refresh_from_db()
    Account.objects.filter(pk=accounts[6].pk).update(stage="not_set")
    services.retry_failed(user=supervisor, operation=operation)
    first = BulkOperationItem.objects.get(operation=operation, target_id=accounts[0].pk)
    assert (first.outcome, first.processed_at) == (Outcome.DONE, chunks[0].committed_at)
