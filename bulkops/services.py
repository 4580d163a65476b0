"""Writes of the bulkops app. The audit service is here: every change to
accounts and money is recorded through these functions and nowhere else."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from bulkops.models import AuditEvent, BulkOperation

AUDIT_BATCH_SIZE = 5000


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value


def object_type_of(model: type[models.Model] | models.Model) -> str:
    return model._meta.label_lower


def record_audit_event(
    *,
    actor,
    action: str,
    obj: models.Model,
    changes: dict[str, tuple[Any, Any]],
    bulk_operation: BulkOperation | None = None,
) -> AuditEvent:
    """Record one change of one object."""
    return record_audit_event_about(
        actor=actor,
        action=action,
        object_type=object_type_of(obj),
        object_id=obj.pk,
        changes=changes,
        bulk_operation=bulk_operation,
    )


def record_audit_event_about(
    *,
    actor,
    action: str,
    object_type: str,
    object_id: int,
    changes: dict[str, tuple[Any, Any]],
    bulk_operation: BulkOperation | None = None,
) -> AuditEvent:
    """Record one event about an object named by type and id, which need not
    be a row (a failed login names a sentinel when the username is nobody's)."""
    return AuditEvent.objects.create(
        actor=actor if actor and actor.is_authenticated else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        changes={k: [_jsonable(b), _jsonable(a)] for k, (b, a) in changes.items()},
        bulk_operation=bulk_operation,
    )


def record_audit_events(
    *,
    actor,
    action: str,
    model: type[models.Model],
    changes_by_id: Iterable[tuple[int, dict[str, tuple[Any, Any]]]],
    bulk_operation: BulkOperation | None = None,
    occurred_at: dt.datetime | None = None,
) -> int:
    """Record many changes, thousands of rows per INSERT. Returns the count."""
    occurred_at = occurred_at or timezone.now()
    object_type = object_type_of(model)
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    batch: list[AuditEvent] = []
    written = 0
    for object_id, changes in changes_by_id:
        batch.append(
            AuditEvent(
                occurred_at=occurred_at,
                actor_id=actor_id,
                action=action,
                object_type=object_type,
                object_id=object_id,
                changes={k: [_jsonable(b), _jsonable(a)] for k, (b, a) in changes.items()},
                bulk_operation=bulk_operation,
            )
        )
        if len(batch) >= AUDIT_BATCH_SIZE:
            AuditEvent.objects.bulk_create(batch)
            written += len(batch)
            batch = []
    if batch:
        AuditEvent.objects.bulk_create(batch)
        written += len(batch)
    return written


def record_field_change(
    *,
    actor,
    action: str,
    queryset: models.QuerySet,
    field: str,
    new_value: Any,
    bulk_operation: BulkOperation | None = None,
) -> int:
    """Record, in ONE ``INSERT ... SELECT``, that ``field`` of every row of
    ``queryset`` goes from its current value to ``new_value``. Call it in the
    same transaction and just before the ``update()`` that makes the change,
    with a queryset that excludes the rows already at the new value.
    Returns the number of events written."""
    model = queryset.model
    model._meta.get_field(field)  # FieldDoesNotExist for an unknown field
    # values_list() names each selected column by the name asked for
    # ("pk", field), not by its column ("id", "status_id"): refer to those.
    column = connection.ops.quote_name(field)
    pk_column = connection.ops.quote_name("pk")
    try:
        inner_sql, inner_params = queryset.values_list("pk", field).query.sql_with_params()
    except EmptyResultSet:  # e.g. pk__in=[]: nothing changes, nothing to record
        return 0
    after = json.dumps(_jsonable(new_value))
    if connection.vendor == "postgresql":
        changes_sql = "json_build_object(%s, json_build_array(sub.{col}, %s::json))"
    else:
        changes_sql = "json_object(%s, json_array(sub.{col}, json(%s)))"
    sql = (
        f"INSERT INTO {AuditEvent._meta.db_table} "
        "(occurred_at, actor_id, action, object_type, object_id, changes, bulk_operation_id) "
        f"SELECT %s, %s, %s, %s, sub.{pk_column}, {changes_sql.format(col=column)}, %s "
        f"FROM ({inner_sql}) sub"
    )
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    operation_id = bulk_operation.pk if bulk_operation else None
    # Placeholders in SQL order: the SELECT list first, then the subquery's own.
    params = [timezone.now(), actor_id, action, object_type_of(model), field, after, operation_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params + list(inner_params))
        return cursor.rowcount


def audited_update(
    *,
    actor,
    action: str,
    queryset: models.QuerySet,
    field: str,
    new_value: Any,
    bulk_operation: BulkOperation | None = None,
    also: dict[str, Any] | None = None,
) -> int:
    """Set ``field`` to ``new_value`` on every row of ``queryset``, recording
    each row's change first (``record_field_change``, one ``INSERT ...
    SELECT``), then updating in one statement with ``also``'s extra
    assignments (recorded by their own call when they matter). Pass a
    queryset that excludes the rows already at the new value. Returns the
    number of rows changed."""
    record_field_change(
        actor=actor,
        action=action,
        queryset=queryset,
        field=field,
        new_value=new_value,
        bulk_operation=bulk_operation,
    )
    return queryset.update(**{field: new_value, **(also or {})})


def record_worker_heartbeat(*, worker: str) -> None:
    """Note that ``worker`` is alive now."""
    from bulkops.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"seen_at": timezone.now()})


# --- the bulk-operation engine -------------------------------------------------------

logger = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 60
CANCELLED_REASON = "Cancelled before it was processed"
ANALYZE_AFTER_ROWS = 10_000


class OperationRefused(Exception):
    """The operation cannot start; the message is for the user."""


class CountChanged(OperationRefused):
    """The selection no longer holds the number of accounts the user confirmed."""

    def __init__(self, confirmed: int, current: int):
        self.confirmed, self.current = confirmed, current
        super().__init__(
            f"The selection now holds {current:,} accounts, not the {confirmed:,} you "
            "confirmed. Check the number and confirm again."
        )


class InvalidParameters(OperationRefused):
    def __init__(self, form):
        self.form = form
        super().__init__("Correct the highlighted fields.")


def snapshot_items(operation: BulkOperation, queryset, *, arguments=None) -> int:
    """Freeze the selected accounts as the operation's items, in one
    ``INSERT ... SELECT`` (or, with per-account ``arguments``, batched
    inserts). Returns the number of items."""
    from bulkops.models import BulkOperationItem

    if arguments is not None:
        rows = [
            BulkOperationItem(operation=operation, target_id=target_id, argument=argument)
            for target_id, argument in arguments
        ]
        BulkOperationItem.objects.bulk_create(rows, batch_size=5000)
        if connection.vendor == "postgresql" and len(rows) > ANALYZE_AFTER_ROWS:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {BulkOperationItem._meta.db_table}")
        return len(rows)
    select_sql, select_params = queryset.order_by().values_list("pk").query.sql_with_params()
    table = BulkOperationItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (operation_id, target_id, outcome, argument, reason) "
            f"SELECT %s, sub.pk, %s, '', '' FROM ({select_sql}) sub",
            [operation.pk, BulkOperationItem.Outcome.PENDING, *select_params],
        )
        inserted = cursor.rowcount
        if connection.vendor == "postgresql" and inserted > ANALYZE_AFTER_ROWS:
            # Fresh statistics, or the planner takes a million new rows for an
            # empty table and scans it whole for every chunk.
            cursor.execute(f"ANALYZE {table}")
        return inserted


START_LOCK = "bulkops.start"


def _serialise_starts(user) -> None:
    """Serialise the start (or retry) of operations that could share an
    account, until the transaction ends, so two concurrent confirmations
    cannot both miss each other's snapshot in the overlap check.

    Every account is owned by one company, so two operations over the same
    account both involve its owner: each start locks every company owning
    an account the user may see (its own, and the owners of accounts granted
    to it), in company order so that two starts never wait for each other in
    a cycle. All of them hold the platform-wide key shared; the platform
    operator, who sees every company's accounts, holds it exclusively.
    SQLite serialises writes anyway."""
    if connection.vendor != "postgresql":
        return
    from accounts.selectors import account_owners_reachable_by

    owners = account_owners_reachable_by(user)
    with connection.cursor() as cursor:
        if owners is None:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s), 0)", [START_LOCK])
            return
        cursor.execute("SELECT pg_advisory_xact_lock_shared(hashtext(%s), 0)", [START_LOCK])
        for company_id in owners:
            # The two-key form takes int4s; a shared key only serialises more.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s), %s)",
                [START_LOCK, company_id % 2**31],
            )


def _overlapping_operation(operation: BulkOperation) -> BulkOperation | None:
    """Another queued or running operation that still has pending work on one
    of this operation's accounts (read-only actions neither clash nor block)."""
    from bulkops.models import BulkOperationItem
    from bulkops.registry import all_actions, get_action

    action = get_action(operation.kind)
    if action is not None and not action.changes_accounts:
        return None
    read_only = [a.key for a in all_actions() if not a.changes_accounts]
    mine = BulkOperationItem.objects.filter(
        operation=operation, outcome=BulkOperationItem.Outcome.PENDING
    ).values("target_id")
    clash = (
        BulkOperationItem.objects.unprocessed()
        .filter(target_id__in=mine, operation__status__in=BulkOperation.ACTIVE)
        .exclude(operation=operation)
        .exclude(operation__kind__in=read_only)
        .values_list("operation_id", flat=True)
        .first()
    )
    return BulkOperation.objects.filter(pk=clash).first() if clash else None


def start_operation(
    *,
    user,
    action_key: str,
    selection,
    confirmed_count: int,
    data,
    idempotency_key: str,
) -> BulkOperation:
    """Confirm a bulk action: validate, snapshot the selected accounts and
    enqueue the work, all in one transaction.

    Refuses (``OperationRefused``) without changing anything when the user may
    not run the action, the parameters are invalid, the selection's count is
    not the one confirmed (``CountChanged``), nothing is selected, or another
    running operation holds some of the accounts. A repeated idempotency key
    (a double-clicked Confirm) returns the operation the first click made.
    ``operation.enqueued`` is False when the task queue could not be reached:
    the operation is saved all the same (see ``enqueue_operation``)."""
    from bulkops.registry import get_action

    action = get_action(action_key)
    if action is None:
        raise OperationRefused("Unknown bulk action.")
    if not user.has_perm(action.permission):
        raise OperationRefused(f"You do not have permission to run “{action.label}”.")
    if not idempotency_key or len(idempotency_key) > 64:
        raise OperationRefused("This dialog is out of date; open it again.")
    existing = BulkOperation.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.created_by_id != user.pk:
            raise OperationRefused("This dialog is out of date; open it again.")
        return existing

    queryset = selection.resolve(user)
    form = action.get_form(data, user=user, selected_count=confirmed_count)
    if not form.is_valid():
        raise InvalidParameters(form)
    try:
        with transaction.atomic():
            _serialise_starts(user)
            count = selection.count(user)
            if count == 0:
                raise OperationRefused("No accounts are selected.")
            if count != confirmed_count:
                raise CountChanged(confirmed_count, count)
            operation = BulkOperation.objects.create(
                kind=action.key,
                target=action.target,
                company_id=user.company_id,
                created_by=user,
                parameters=action.all_parameters(form),
                selection=selection.to_dict(),
                confirmed_count=count,
                idempotency_key=idempotency_key,
                seed=random.SystemRandom().randrange(2**31),
            )
            operation.total = action.snapshot(operation, queryset)
            if operation.total == 0:
                raise OperationRefused("None of the selected accounts would be changed.")
            clash = _overlapping_operation(operation)
            if clash is not None:
                raise OperationRefused(
                    f"Bulk operation #{clash.pk} ({clash.label}) is still working on "
                    "some of these accounts. Wait for it to finish, or cancel it, and try again."
                )
            operation.save(update_fields=["total"])
            record_audit_event(
                actor=user,
                action="bulk_operation.started",
                obj=operation,
                changes={"kind": (None, operation.kind), "total": (None, operation.total)},
                bulk_operation=operation,
            )
            _enqueue_on_commit(operation)
    except IntegrityError:
        # The same idempotency key committed by a concurrent request.
        existing = BulkOperation.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing
    return operation


def enqueue_operation(operation_id: int) -> bool:
    """Send the operation's task to the workers. False when the broker cannot
    be reached: the operation stays committed as it is, and
    ``sweep_stale_operations`` sends it once the broker is back."""
    from kombu.exceptions import OperationalError

    from bulkops.tasks import run_bulk_operation

    try:
        run_bulk_operation.delay(operation_id)
    except OperationalError as exc:
        logger.warning(
            "bulk operation %s: the task queue cannot be reached (%s); "
            "the sweeper sends it when the queue is back",
            operation_id,
            exc,
        )
        return False
    return True


def _enqueue_on_commit(operation: BulkOperation) -> None:
    """Enqueue once the transaction commits (a worker must see the rows), and
    note the outcome on ``operation.enqueued`` for the page that follows."""

    def send():
        # Looked up when it runs, so tests can replace enqueue_operation.
        operation.enqueued = enqueue_operation(operation.pk)

    transaction.on_commit(send)


def _lock_operation(operation_id: int) -> BulkOperation | None:
    """The operation row, locked for this chunk; None if another worker holds
    it (that worker is processing a chunk right now)."""
    queryset = BulkOperation.objects.filter(pk=operation_id)
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True).first()
    return queryset.first()  # SQLite: writes are serialised by the database


def _fetch_all(queryset) -> list[tuple]:
    """A values_list queryset's rows in one fetchall: Django's iterator fetches
    100 rows a round trip, which costs more than the query for a large chunk."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def process_next_chunk(operation_id: int) -> str:
    """Apply the action to the next chunk of pending accounts, in one
    transaction with the outcomes and the progress counters. Returns
    "continue", "finished", "cancelled" or "busy"."""
    from bulkops.models import BulkOperationItem
    from bulkops.registry import Chunk, Outcomes, get_action

    Outcome = BulkOperationItem.Outcome
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The chunk's changes and its outcomes commit together, so a
            # database crash can only lose both, and the chunk is redone: an
            # asynchronous commit is safe here, and saves a WAL flush a chunk.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        operation = _lock_operation(operation_id)
        if operation is None:
            return "busy"
        if not operation.is_active:
            return "finished"
        now = timezone.now()
        action = get_action(operation.kind)
        if operation.cancel_requested:
            # What was not processed is settled as skipped, so a later Retry
            # runs only the failed accounts, never the cancelled ones.
            cancelled = BulkOperationItem.objects.filter(
                operation=operation, outcome=Outcome.PENDING, target_id__gt=operation.cursor
            ).update(outcome=Outcome.SKIPPED, reason=CANCELLED_REASON, processed_at=now)
            operation.skipped += cancelled
            operation.status = BulkOperation.Status.CANCELLED
            operation.finished_at = now
            operation.save(update_fields=["status", "finished_at", "skipped"])
            if action is not None:
                action.cancelled(operation)
            return "cancelled"
        if operation.status == BulkOperation.Status.QUEUED:
            operation.status = BulkOperation.Status.RUNNING
            operation.started_at = operation.started_at or now
        pending = _fetch_all(
            BulkOperationItem.objects.filter(
                operation=operation, target_id__gt=operation.cursor, outcome=Outcome.PENDING
            )
            .order_by("target_id")
            .values_list("target_id", "argument")[
                : action.chunk_size_for(operation) if action else 1000
            ]
        )
        if not pending:
            operation.status = (
                BulkOperation.Status.FAILED if operation.failed else BulkOperation.Status.SUCCEEDED
            )
            if action is not None:
                try:
                    with transaction.atomic():
                        action.finish(operation)
                except Exception as exc:
                    logger.exception("bulk operation %s: finish failed", operation_id)
                    operation.status = BulkOperation.Status.FAILED
                    operation.error = f"{type(exc).__name__}: {exc}"[:1000]
            operation.finished_at = now
            operation.heartbeat_at = now
            operation.save(
                update_fields=["status", "started_at", "finished_at", "heartbeat_at", "error"]
            )
            if operation.total >= ANALYZE_AFTER_ROWS:
                _refresh_statistics(action)
            return "finished"
        ids = [target_id for target_id, _ in pending]
        if action is None:
            outcomes = Outcomes.all_failed(ids, "This kind of bulk action no longer exists.")
        else:
            try:
                with transaction.atomic():  # a savepoint: a failing chunk rolls back alone
                    outcomes = action.apply_chunk(Chunk(pending), operation)
            except Exception as exc:
                logger.exception("bulk operation %s: chunk failed", operation_id)
                outcomes = Outcomes.all_failed(ids, f"{type(exc).__name__}: {exc}"[:255])
        skipped = failed = 0
        not_done: set[int] = set()
        for outcome, groups in (
            (Outcome.SKIPPED, outcomes.skipped),
            (Outcome.FAILED, outcomes.failed),
        ):
            for reason, row_ids in groups.items():
                row_ids = set(row_ids) & set(ids) - not_done
                if not row_ids:
                    continue
                BulkOperationItem.objects.filter(
                    operation=operation, target_id__any=sorted(row_ids)
                ).update(outcome=outcome, reason=reason[:255], processed_at=now)
                not_done |= row_ids
                if outcome == Outcome.SKIPPED:
                    skipped += len(row_ids)
                else:
                    failed += len(row_ids)
        # The chunk is exactly the pending items after the cursor up to its
        # last account. Those still pending were done: moving the cursor past
        # them, below, in this transaction, is what records it (see
        # BulkOperationItem), rather than rewriting every one of them.
        operation.processed += len(ids)
        operation.succeeded += len(ids) - skipped - failed
        operation.skipped += skipped
        operation.failed += failed
        operation.heartbeat_at = now
        operation.cursor = ids[-1]
        operation.save(
            update_fields=[
                "status", "started_at", "processed", "succeeded", "skipped", "failed",
                "heartbeat_at", "cursor",
            ]
        )  # fmt: skip
    return "continue"


def _refresh_statistics(action) -> None:
    """Fresh planner statistics for the tables a large operation grew: the
    audit trail, and what the action names. Without them PostgreSQL plans the
    audit log's count on a table it thinks a million rows smaller, and a
    page that took 50 ms can take minutes. (Autovacuum does this too, later,
    when it runs at all.)"""
    if connection.vendor != "postgresql":
        return
    from django.apps import apps

    tables = [AuditEvent._meta.db_table]
    for label in getattr(action, "grows", ()):
        tables.append(apps.get_model(label)._meta.db_table)
    with connection.cursor() as cursor:
        for table in dict.fromkeys(tables):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def run_operation(operation_id: int) -> str:
    """Process chunks until the operation finishes, is cancelled, or another
    worker turns out to hold it."""
    while True:
        state = process_next_chunk(operation_id)
        if state != "continue":
            return state


def request_cancel(*, user, operation: BulkOperation) -> None:
    """Ask the worker to stop before its next chunk. Chunks already applied stay.
    ``operation.enqueued`` is False when the task queue could not be reached."""
    if not operation.is_active:
        raise OperationRefused("This operation has already finished.")
    with transaction.atomic():
        updated = BulkOperation.objects.filter(
            pk=operation.pk, status__in=BulkOperation.ACTIVE
        ).update(cancel_requested=True)
        if updated:
            record_audit_event(
                actor=user,
                action="bulk_operation.cancel_requested",
                obj=operation,
                changes={"cancel_requested": (False, True)},
                bulk_operation=operation,
            )
    if updated:
        # A queued operation with no worker yet still gets marked cancelled.
        _enqueue_on_commit(operation)


def retry_failed(*, user, operation: BulkOperation) -> int:
    """Put the failed accounts back in the queue and run them again.
    ``operation.enqueued`` is False when the task queue could not be reached."""
    from bulkops.models import BulkOperationItem

    if operation.is_active:
        raise OperationRefused("Wait for the operation to finish before retrying.")
    with transaction.atomic():
        _serialise_starts(user)
        locked = BulkOperation.objects.select_for_update().get(pk=operation.pk)
        # The cursor goes back to the start: what it said was done is written
        # as done first, so that only the retried accounts are pending.
        BulkOperationItem.objects.filter(
            operation=locked,
            outcome=BulkOperationItem.Outcome.PENDING,
            target_id__lte=locked.cursor,
        ).update(outcome=BulkOperationItem.Outcome.DONE)
        count = BulkOperationItem.objects.filter(
            operation=locked, outcome=BulkOperationItem.Outcome.FAILED
        ).update(outcome=BulkOperationItem.Outcome.PENDING, reason="", processed_at=None)
        if not count:
            raise OperationRefused("No accounts failed; there is nothing to retry.")
        clash = _overlapping_operation(locked)
        if clash is not None:
            raise OperationRefused(
                f"Bulk operation #{clash.pk} ({clash.label}) is working on some of these "
                "accounts. Wait for it to finish, or cancel it, and retry then."
            )
        locked.processed -= count
        locked.failed -= count
        locked.status = BulkOperation.Status.QUEUED
        locked.cancel_requested = False
        locked.finished_at = None
        locked.cursor = 0  # the failed items sit anywhere in the range
        locked.save(
            update_fields=[
                "processed", "failed", "status", "cancel_requested", "finished_at", "cursor",
            ]
        )  # fmt: skip
        record_audit_event(
            actor=user,
            action="bulk_operation.retried",
            obj=locked,
            changes={"retried_accounts": (None, count)},
            bulk_operation=locked,
        )
        _enqueue_on_commit(operation)
    return count


def sweep_stale_operations(*, stale_after_seconds: int = STALE_AFTER_SECONDS) -> list[int]:
    """Re-enqueue active operations no worker has advanced lately: their
    worker died (SIGKILL, lost machine), their message was lost, or the broker
    could not be reached when they were confirmed. A second worker on a live
    operation is harmless: chunks lock the operation row. Returns the ones it
    tried to send (a failed send is logged and tried again next time)."""
    cutoff = timezone.now() - dt.timedelta(seconds=stale_after_seconds)
    stale = list(
        BulkOperation.objects.filter(status__in=BulkOperation.ACTIVE)
        .filter(
            models.Q(heartbeat_at__lt=cutoff)
            | models.Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
        )
        .values_list("pk", flat=True)
    )
    for operation_id in stale:
        enqueue_operation(operation_id)
    return stale
