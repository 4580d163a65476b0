"""The bulk-operation engine: confirming an action (snapshot, idempotency,
approval and schedule), sending it to the workers, and processing it one
chunk per transaction. It never knows what an action does: everything about
the action comes from its class (``bulkops.registry.BulkAction``), everything
about the rows from their list (``registry.Selectable``).
"""

from __future__ import annotations

import enum
import json
import logging
import random

from django.core import signing
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from bulkops.models import AuditEvent, BulkOperation, BulkOperationChunk, BulkOperationItem
from bulkops.registry import Chunk, Outcomes, all_actions, get_action, get_selectable, label_of
from bulkops.services.audit import record_audit_event

logger = logging.getLogger(__name__)

CANCELLED_REASON = "Cancelled before it was processed"
ANALYZE_AFTER_ROWS = 10_000
START_LOCK = "bulkops.start"
PREVIEW_SALT = "bulkops.preview"
PREVIEW_MAX_AGE_SECONDS = 3600

Outcome = BulkOperationItem.Outcome
Status = BulkOperation.Status


class ChunkResult(enum.StrEnum):
    """What one call of ``process_next_chunk`` did."""

    CONTINUE = "continue"  # a chunk committed; more may be pending
    FINISHED = "finished"  # nothing is pending: the operation is final
    CANCELLED = "cancelled"  # a cancel was asked for: the operation stopped
    BUSY = "busy"  # another worker holds the operation right now
    WAITING = "waiting"  # it waits for an approval or its run-at date


class OperationRefused(Exception):
    """The operation cannot start; the message is for the user."""


class CountChanged(OperationRefused):
    """The selection no longer holds the number of rows the user confirmed."""

    def __init__(self, confirmed: int, current: int, noun: str = "rows"):
        self.confirmed, self.current = confirmed, current
        super().__init__(
            f"The selection now holds {current:,} {noun}, not the {confirmed:,} you "
            "confirmed. Check the number and confirm again."
        )


class InvalidParameters(OperationRefused):
    def __init__(self, form):
        self.form = form
        super().__init__("Correct the highlighted fields.")


# --- the snapshot and the overlap check ---------------------------------------------------


def snapshot_items(operation: BulkOperation, queryset, *, arguments=None) -> int:
    """Freeze the selected rows as the operation's items, in one
    ``INSERT ... SELECT`` (with per-row ``arguments``: a queryset of (row id,
    argument) copied the same way, or any iterable of them, batched inserts).
    Returns the number of items."""
    table = BulkOperationItem._meta.db_table
    if isinstance(arguments, models.QuerySet):  # (row id, argument) rows, copied by SQL
        select_sql, select_params = arguments.order_by().query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                # The queryset's two columns, whatever it names them.
                f"INSERT INTO {table} (target_id, argument, operation_id, outcome, reason) "
                f"SELECT sub.*, %s, %s, '' FROM ({select_sql}) sub",
                [operation.pk, Outcome.PENDING, *select_params],
            )
            inserted = cursor.rowcount
    elif arguments is not None:
        rows = [
            BulkOperationItem(operation=operation, target_id=target_id, argument=argument)
            for target_id, argument in arguments
        ]
        BulkOperationItem.objects.bulk_create(rows, batch_size=5000)
        inserted = len(rows)
    else:
        select_sql, select_params = queryset.order_by().values_list("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (operation_id, target_id, outcome, argument, reason) "
                f"SELECT %s, sub.pk, %s, '', '' FROM ({select_sql}) sub",
                [operation.pk, Outcome.PENDING, *select_params],
            )
            inserted = cursor.rowcount
    if connection.vendor == "postgresql" and inserted > ANALYZE_AFTER_ROWS:
        # Fresh statistics, or the planner takes a million new rows for an
        # empty table and scans it whole for every chunk.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
    return inserted


def serialise_starts(user, target: str) -> None:
    """Serialise the start (or retry, approval, release) of operations that
    could share a row, until the transaction ends, so two concurrent
    confirmations cannot both miss each other's snapshot in the overlap check.

    Every row is owned by one company, so two operations over the same row
    both involve its owner: each start locks every company owning a row the
    user may see in the list (its own, and the owners of rows granted to it),
    in company order so that two starts never wait for each other in a
    cycle. All of them hold the platform-wide key shared; the platform
    operator, who sees every company's rows, holds it exclusively. SQLite
    serialises writes anyway."""
    if connection.vendor != "postgresql":
        return
    try:
        owners = get_selectable(target).owners_reachable_by(user)
    except LookupError:  # a list no app registers any more: lock everything
        owners = None
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


def overlapping_operation(operation: BulkOperation) -> BulkOperation | None:
    """Another queued or running operation of the same list that still has
    pending work on one of this operation's rows (read-only actions neither
    clash nor block)."""
    action = get_action(operation.kind)
    if action is not None and not action.changes_accounts:
        return None
    read_only = [a.key for a in all_actions() if not a.changes_accounts]
    mine = BulkOperationItem.objects.filter(operation=operation, outcome=Outcome.PENDING).values(
        "target_id"
    )
    clash = (
        BulkOperationItem.objects.unprocessed()
        .filter(target_id__in=mine, operation__status__in=BulkOperation.ACTIVE)
        .filter(operation__target=operation.target)
        .exclude(operation=operation)
        .exclude(operation__kind__in=read_only)
        .values_list("operation_id", flat=True)
        .first()
    )
    return BulkOperation.objects.filter(pk=clash).first() if clash else None


def refuse_if_overlapping(operation: BulkOperation, *, then: str) -> None:
    clash = overlapping_operation(operation)
    if clash is not None:
        try:
            noun = get_selectable(operation.target).plural
        except LookupError:
            noun = "rows"
        raise OperationRefused(
            f"Bulk operation #{clash.pk} ({label_of(clash.kind)}) is still working on some of these "
            f"{noun}. Wait for it to finish, or cancel it, and {then}."
        )


# --- the verification step ------------------------------------------------------------------


def preview_token(action, *, count: int, parameters: dict) -> str:
    """What the preview page hands to the confirmation: proof that these
    parameters, over this many rows, were shown to the user."""
    return signing.dumps(
        {"action": action.key, "count": count, "parameters": parameters}, salt=PREVIEW_SALT
    )


def _check_preview(action, data, *, count: int, parameters: dict) -> None:
    try:
        shown = signing.loads(
            data.get("preview_token", ""), salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE_SECONDS
        )
    except signing.BadSignature:
        shown = None
    # Compared as JSON, as the token carries them (tuples become lists).
    expected = json.loads(
        json.dumps({"action": action.key, "count": count, "parameters": parameters})
    )
    if shown != expected:
        raise OperationRefused(
            f"The {action.preview_title.lower()} no longer matches what you are confirming: "
            "check it again."
        )


# --- confirming -------------------------------------------------------------------------------


def start_operation(
    *,
    user,
    action_key: str,
    selection,
    confirmed_count: int,
    data,
    idempotency_key: str,
) -> BulkOperation:
    """Confirm a bulk action: validate, snapshot the selected rows, and
    either enqueue the work, schedule it for its run-at date, or leave it
    waiting for approval, all in one transaction.

    Refuses (``OperationRefused``) without changing anything when the user may
    not run the action, the parameters are invalid, the selection's count is
    not the one confirmed (``CountChanged``), an action with a verification
    step was not previewed with these parameters, nothing is selected, or
    another running operation holds some of the rows. A repeated idempotency
    key (a double-clicked Confirm) returns the operation the first click
    made. ``operation.enqueued`` is False when the task queue could not be
    reached: the operation is saved all the same (see ``enqueue_operation``)."""
    action = get_action(action_key)
    if action is None:
        raise OperationRefused("Unknown bulk action.")
    if not user.has_perm(action.permission):
        raise OperationRefused(f"You do not have permission to run “{action.label}”.")
    if selection.selectable != action.target:
        raise OperationRefused("This dialog is out of date; open it again.")
    if not idempotency_key or len(idempotency_key) > 64:
        raise OperationRefused("This dialog is out of date; open it again.")
    existing = BulkOperation.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.created_by_id != user.pk:
            raise OperationRefused("This dialog is out of date; open it again.")
        return existing

    noun = get_selectable(action.target).plural
    queryset = selection.resolve(user)
    form = action.get_form(data, user=user, selected_count=confirmed_count)
    if not form.is_valid():
        raise InvalidParameters(form)
    parameters = action.all_parameters(form)
    if action.preview_template:
        _check_preview(action, data, count=confirmed_count, parameters=parameters)
    try:
        with transaction.atomic():
            serialise_starts(user, action.target)
            count = selection.count(user)
            if count == 0:
                raise OperationRefused(f"No {noun} are selected.")
            if count != confirmed_count:
                raise CountChanged(confirmed_count, count, noun)
            operation = BulkOperation.objects.create(
                kind=action.key,
                target=action.target,
                company_id=user.company_id,
                created_by=user,
                parameters=parameters,
                selection=selection.to_dict(),
                confirmed_count=count,
                idempotency_key=idempotency_key,
                seed=random.SystemRandom().randrange(2**31),
                run_at=action.run_at(parameters),
            )
            total = action.snapshot(operation, queryset)
            operation.total = snapshot_items(operation, queryset) if total is None else total
            if operation.total == 0:
                raise OperationRefused(f"None of the selected {noun} would be changed.")
            refuse_if_overlapping(operation, then="try again")
            _hold_or_release(operation, action, user=user)
            operation.save(update_fields=["total", "status", "approval_reason"])
            record_audit_event(
                actor=user,
                action="bulk_operation.started",
                obj=operation,
                changes={
                    "kind": (None, operation.kind),
                    "total": (None, operation.total),
                    # Said when it does not start at once.
                    **({"status": (None, operation.status)} if operation.is_waiting else {}),
                    # Choices the action wants on the record (Ignore Max Per Minute).
                    **{
                        name: (None, value)
                        for name, value in action.audited_parameters(operation.parameters).items()
                    },
                },
                bulk_operation=operation,
            )
            if operation.is_active:
                enqueue_on_commit(operation)
    except IntegrityError:
        # The same idempotency key committed by a concurrent request.
        existing = BulkOperation.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing
    return operation


def _hold_or_release(operation: BulkOperation, action, *, user) -> None:
    """Waiting for approval when the action's approval rule applies, else
    queued or scheduled for its run-at date."""
    reason = action.approval_needed(
        user, operation.parameters, operation.total, operation=operation
    )
    if reason:
        operation.wait_for_approval(reason)
    else:
        operation.release(timezone.now())


# --- sending to the workers -------------------------------------------------------------


def enqueue_operation(operation_id: int) -> bool:
    """Send the operation's task to the workers. False when the broker cannot
    be reached: the operation stays committed as it is, and
    ``sweep_stale_operations`` sends it once the broker is back."""
    from celery import current_app
    from kombu.exceptions import OperationalError

    try:
        # By name: the engine's services do not import its task module.
        current_app.send_task("bulkops.run_bulk_operation", args=[operation_id])
    except OperationalError as exc:
        logger.warning(
            "bulk operation %s: the task queue cannot be reached (%s); "
            "the sweeper sends it when the queue is back",
            operation_id,
            exc,
        )
        return False
    return True


def enqueue_on_commit(operation: BulkOperation) -> None:
    """Enqueue once the transaction commits (a worker must see the rows), and
    note the outcome on ``operation.enqueued`` for the page that follows."""

    def send():
        # Looked up when it runs, so tests can replace enqueue_operation.
        operation.enqueued = enqueue_operation(operation.pk)

    transaction.on_commit(send)


# --- processing one chunk -------------------------------------------------------------------


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


def process_next_chunk(operation_id: int) -> ChunkResult:
    """Apply the action to the next chunk of pending rows, in one transaction
    with the outcomes and the progress counters."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The chunk's changes and its outcomes commit together, so a
            # database crash can only lose both, and the chunk is redone: an
            # asynchronous commit is safe here, and saves a WAL flush a chunk.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        operation = _lock_operation(operation_id)
        if operation is None:
            return ChunkResult.BUSY
        if operation.is_waiting:
            return ChunkResult.WAITING
        if not operation.is_active:
            return ChunkResult.FINISHED
        now = timezone.now()
        action = get_action(operation.kind)
        if operation.cancel_requested:
            cancel_now(operation, action, now)
            return ChunkResult.CANCELLED
        operation.mark_running(now)
        pending = _next_chunk(operation, action)
        if not pending:
            _finish(operation, action, now)
            return ChunkResult.FINISHED
        outcomes = _apply(operation, action, pending)
        skipped, failed = _record_outcomes(operation, outcomes, pending, now)
        # The chunk is exactly the pending items after the cursor up to its
        # last row. Those still pending were done: moving the cursor past
        # them, in this transaction, is what records it (see
        # BulkOperationItem), rather than rewriting every one of them.
        operation.record_chunk(
            now, rows=len(pending), skipped=skipped, failed=failed, last_row=pending[-1][0]
        )
        BulkOperationChunk.objects.create(
            operation=operation,
            first_target_id=pending[0][0],
            last_target_id=pending[-1][0],
            rows=len(pending),
            committed_at=now,
        )
        operation.save(
            update_fields=[
                "status", "started_at", "processed", "succeeded", "skipped", "failed",
                "heartbeat_at", "cursor",
            ]
        )  # fmt: skip
    return ChunkResult.CONTINUE


def cancel_now(operation: BulkOperation, action, now) -> None:
    """Stop here: what was not processed is settled as skipped, so a later
    Retry runs only the failed rows, never the cancelled ones."""
    cancelled = BulkOperationItem.objects.filter(
        operation=operation, outcome=Outcome.PENDING, target_id__gt=operation.cursor
    ).update(outcome=Outcome.SKIPPED, reason=CANCELLED_REASON, processed_at=now)
    operation.mark_cancelled(now, skipped=cancelled)
    operation.save(update_fields=["status", "finished_at", "skipped"])
    if action is not None:
        action.cancelled(operation)


def _next_chunk(operation: BulkOperation, action) -> list[tuple[int, str]]:
    size = action.chunk_size_for(operation) if action else 1000
    return _fetch_all(
        BulkOperationItem.objects.filter(
            operation=operation, target_id__gt=operation.cursor, outcome=Outcome.PENDING
        )
        .order_by("target_id")
        .values_list("target_id", "argument")[:size]
    )


def _apply(operation: BulkOperation, action, pending) -> Outcomes:
    ids = [target_id for target_id, _ in pending]
    if action is None:
        return Outcomes.all_failed(ids, "This kind of bulk action no longer exists.")
    try:
        with transaction.atomic():  # a savepoint: a failing chunk rolls back alone
            return action.apply_chunk(Chunk(pending), operation)
    except Exception as exc:
        logger.exception("bulk operation %s: chunk failed", operation.pk)
        return Outcomes.all_failed(ids, f"{type(exc).__name__}: {exc}"[:255])


def _record_outcomes(operation, outcomes: Outcomes, pending, now) -> tuple[int, int]:
    """Write the chunk's skipped and failed items (a row reported twice
    counts once, skipped first). Returns (skipped, failed)."""
    ids = {target_id for target_id, _ in pending}
    counts = {Outcome.SKIPPED: 0, Outcome.FAILED: 0}
    not_done: set[int] = set()
    for outcome, groups in ((Outcome.SKIPPED, outcomes.skipped), (Outcome.FAILED, outcomes.failed)):
        for reason, row_ids in groups.items():
            row_ids = set(row_ids) & ids - not_done
            if not row_ids:
                continue
            BulkOperationItem.objects.filter(
                operation=operation, target_id__any=sorted(row_ids)
            ).update(outcome=outcome, reason=reason[:255], processed_at=now)
            not_done |= row_ids
            counts[outcome] += len(row_ids)
    return counts[Outcome.SKIPPED], counts[Outcome.FAILED]


def _finish(operation: BulkOperation, action, now) -> None:
    """No item is pending: the action's last step, then the final state."""
    error = ""
    if action is not None:
        try:
            with transaction.atomic():
                action.finish(operation)
        except Exception as exc:
            logger.exception("bulk operation %s: finish failed", operation.pk)
            error = f"{type(exc).__name__}: {exc}"
    operation.mark_finished(now, error=error)
    operation.save(update_fields=["status", "started_at", "finished_at", "heartbeat_at", "error"])
    if operation.total >= ANALYZE_AFTER_ROWS:
        _refresh_statistics(action)


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


def run_operation(operation_id: int) -> ChunkResult:
    """Process chunks until the operation finishes, is cancelled, waits, or
    another worker turns out to hold it."""
    while True:
        result = process_next_chunk(operation_id)
        if result != ChunkResult.CONTINUE:
            return result
