"""What users and beat do to operations once confirmed: cancel, retry the
failed rows, approve or reject one that waits for approval, undo one that
finished; and the periodic sweep, release of scheduled operations and
expiry of approvals that came too late."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import models, transaction
from django.utils import timezone

from bulkops.models import BulkOperation, BulkOperationChunk, BulkOperationItem
from bulkops.registry import get_action, get_selectable
from bulkops.services import engine
from bulkops.services.audit import record_audit_event
from bulkops.services.engine import OperationRefused

logger = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 60
Status = BulkOperation.Status
Outcome = BulkOperationItem.Outcome


def _plural(operation: BulkOperation) -> str:
    try:
        return get_selectable(operation.target).plural
    except LookupError:
        return "rows"


def _locked(operation: BulkOperation) -> BulkOperation:
    return BulkOperation.objects.select_for_update().get(pk=operation.pk)


# --- cancel and retry -----------------------------------------------------------------------


def may_cancel(user, operation: BulkOperation) -> bool:
    """Whoever may cancel operations; for one waiting for approval, also
    whoever may approve it (seed 000: any approver can cancel)."""
    if user.has_perm("bulkops.cancel_bulkoperation"):
        return True
    return operation.status == Status.PENDING_APPROVAL and may_approve(user, operation)


def request_cancel(*, user, operation: BulkOperation) -> None:
    """Stop the operation. One that waits (for approval or its date) stops at
    once; a running one stops before its next chunk (chunks applied stay).
    ``operation.enqueued`` is False when the task queue could not be reached."""
    if not may_cancel(user, operation):
        raise OperationRefused("You may not cancel this operation.")
    if operation.is_final:
        raise OperationRefused("This operation has already finished.")
    with transaction.atomic():
        locked = _locked(operation)
        if locked.is_waiting:
            engine.cancel_now(locked, get_action(locked.kind), timezone.now())
            record_audit_event(
                actor=user,
                action="bulk_operation.cancelled",
                obj=locked,
                changes={"status": (operation.status, locked.status)},
                bulk_operation=locked,
            )
            operation.status = locked.status
            return
        if not locked.is_active:
            raise OperationRefused("This operation has already finished.")
        BulkOperation.objects.filter(pk=locked.pk).update(cancel_requested=True)
        record_audit_event(
            actor=user,
            action="bulk_operation.cancel_requested",
            obj=locked,
            changes={"cancel_requested": (False, True)},
            bulk_operation=locked,
        )
        # A queued operation with no worker yet still gets marked cancelled.
        engine.enqueue_on_commit(operation)


def retry_failed(*, user, operation: BulkOperation) -> int:
    """Put the failed rows back in the queue and run them again.
    ``operation.enqueued`` is False when the task queue could not be reached."""
    if not operation.is_final or operation.status in (Status.REJECTED, Status.EXPIRED):
        raise OperationRefused("Wait for the operation to finish before retrying.")
    with transaction.atomic():
        engine.serialise_starts(user, operation.target)
        locked = _locked(operation)
        # The cursor goes back to the start: what it said was done is written
        # as done first, so that only the retried rows are pending.
        # Each keeps the time of the chunk that did it (the first covering
        # it: chunks of a run are disjoint, and this run came first).
        BulkOperationItem.objects.filter(
            operation=locked, outcome=Outcome.PENDING, target_id__lte=locked.cursor
        ).update(
            outcome=Outcome.DONE,
            processed_at=models.Subquery(
                BulkOperationChunk.objects.filter(
                    operation_id=locked.pk,
                    first_target_id__lte=models.OuterRef("target_id"),
                    last_target_id__gte=models.OuterRef("target_id"),
                )
                .order_by("committed_at")
                .values("committed_at")[:1]
            ),
        )
        count = BulkOperationItem.objects.filter(operation=locked, outcome=Outcome.FAILED).update(
            outcome=Outcome.PENDING, reason="", processed_at=None
        )
        if not count:
            noun = _plural(locked)
            raise OperationRefused(f"No {noun} failed; there is nothing to retry.")
        engine.refuse_if_overlapping(locked, then="retry then")
        locked.requeue_failed(count)
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
        engine.enqueue_on_commit(operation)
    return count


# --- approval -------------------------------------------------------------------------------


def may_approve(user, operation: BulkOperation) -> bool:
    """Whether ``user`` is eligible to approve: the action's approval
    permission, and never the one who asked."""
    action = get_action(operation.kind)
    if action is None or not action.approval_permission:
        return False
    return user.pk != operation.created_by_id and user.has_perm(action.approval_permission)


def approve(*, user, operation: BulkOperation) -> BulkOperation:
    """Let an operation that waits for approval go ahead: queued now, or
    scheduled for its run-at date. Refused for its own requester, for a
    user without the action's approval permission, once its run-at date
    has passed (it expires instead), and with its action's reason when the
    action says it may no longer be approved (``approval_refusal``)."""
    return _decide(user=user, operation=operation, approved=True)


def reject(*, user, operation: BulkOperation, reason: str) -> BulkOperation:
    """Refuse an operation that waits for approval, with a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise OperationRefused("Say why it is rejected.")
    return _decide(user=user, operation=operation, approved=False, note=reason[:2000])


def _decide(*, user, operation, approved: bool, note: str = "") -> BulkOperation:
    if user.pk == operation.created_by_id:
        raise OperationRefused("You cannot approve or reject your own request.")
    if not may_approve(user, operation):
        raise OperationRefused("You may not approve or reject this operation.")
    now = timezone.now()
    with transaction.atomic():
        if approved:
            engine.serialise_starts(operation.created_by, operation.target)
        locked = _locked(operation)
        if locked.status != Status.PENDING_APPROVAL:
            raise OperationRefused(
                f"This operation no longer waits for approval (it is {locked.get_status_display().lower()})."
            )
        if locked.run_at is not None and locked.run_at <= now:
            locked.expire(now)
            locked.save(update_fields=["status", "finished_at"])
            expired = True
        else:
            expired = False
            _record_decision(locked, user=user, now=now, approved=approved, note=note)
    if expired:  # raised once the expiry is committed
        raise OperationRefused("Its run-at time passed while it waited: it has expired.")
    return locked


def _record_decision(locked, *, user, now, approved: bool, note: str) -> None:
    """The decision, its audit, and the send of an approved operation."""
    if approved:
        action = get_action(locked.kind)
        refusal = action.approval_refusal(locked) if action is not None else ""
        if refusal:
            raise OperationRefused(refusal)
        engine.refuse_if_overlapping(locked, then="approve it then")
    before = locked.status
    locked.decide(user=user, now=now, approved=approved, note=note)
    locked.save(
        update_fields=["status", "decided_by", "decided_at", "decision_note", "finished_at"]
    )
    record_audit_event(
        actor=user,
        action="bulk_operation.approved" if approved else "bulk_operation.rejected",
        obj=locked,
        changes={
            "status": (before, locked.status),
            **({"reason": (None, note)} if note else {}),
        },
        bulk_operation=locked,
    )
    if locked.is_active:
        engine.enqueue_on_commit(locked)


def expire_stale_approvals(*, now: dt.datetime | None = None) -> int:
    """Operations still waiting for approval when their run-at date came
    expire (a batch of messages for Monday is not sent on Tuesday)."""
    now = now or timezone.now()
    return BulkOperation.objects.filter(status=Status.PENDING_APPROVAL, run_at__lte=now).update(
        status=Status.EXPIRED, finished_at=now
    )


# --- schedule and sweep ---------------------------------------------------------------------


def release_scheduled_operations(*, now: dt.datetime | None = None) -> list[int]:
    """Queue the scheduled operations whose run-at date has come, each in its
    own transaction; one that would overlap a running operation waits for
    the next round."""
    now = now or timezone.now()
    due = BulkOperation.objects.filter(status=Status.SCHEDULED, run_at__lte=now)
    released = []
    for operation in due.select_related("created_by"):
        try:
            with transaction.atomic():
                engine.serialise_starts(operation.created_by, operation.target)
                locked = _locked(operation)
                if locked.status != Status.SCHEDULED:
                    continue
                engine.refuse_if_overlapping(locked, then="wait")
                locked.release(now)
                locked.save(update_fields=["status"])
                engine.enqueue_on_commit(locked)
                released.append(locked.pk)
        except OperationRefused as exc:
            logger.info("scheduled operation %s waits: %s", operation.pk, exc)
    return released


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
        engine.enqueue_operation(operation_id)
    return stale


# --- undo -------------------------------------------------------------------------------------


def may_undo(user, operation: BulkOperation) -> bool:
    action = get_action(operation.kind)
    inverse = get_action(action.inverse) if action and action.inverse else None
    return bool(
        inverse
        and operation.is_final
        and operation.status not in (Status.REJECTED, Status.EXPIRED)
        and operation.succeeded
        and user.has_perm(inverse.permission)
        and not operation.undone_by.exists()
    )


def start_undo(*, user, operation: BulkOperation) -> BulkOperation:
    """An operation of the action's inverse over the rows the operation
    changed, each with the argument that reverses it (its value before, say),
    run like any other (confirmation audit, progress, history). An operation
    is undone at most once."""
    action = get_action(operation.kind)
    if not may_undo(user, operation):
        raise OperationRefused("This operation cannot be undone.")
    inverse = get_action(action.inverse)
    with transaction.atomic():
        engine.serialise_starts(user, operation.target)
        if BulkOperation.objects.filter(undoes=operation).exists():
            raise OperationRefused("This operation has already been undone.")
        undo = BulkOperation.objects.create(
            kind=inverse.key,
            target=operation.target,
            company_id=user.company_id,
            created_by=user,
            parameters=action.inverse_parameters(operation),
            selection=operation.selection,
            undoes=operation,
        )
        undo.total = engine.snapshot_items(undo, None, arguments=action.undo_items(operation))
        undo.confirmed_count = undo.total
        if undo.total == 0:
            raise OperationRefused("Nothing this operation changed is left to undo.")
        engine.refuse_if_overlapping(undo, then="undo it then")
        # An undo goes through the inverse's approval rule like any
        # operation (redoing a write-off over the limit waits for a second
        # person, as the write-off did).
        reason = inverse.approval_needed(user, undo.parameters, undo.total, operation=undo)
        if reason:
            undo.wait_for_approval(reason)
        undo.save(update_fields=["total", "confirmed_count", "status", "approval_reason"])
        record_audit_event(
            actor=user,
            action="bulk_operation.undo_started",
            obj=undo,
            changes={"undoes": (None, operation.pk), "total": (None, undo.total)},
            bulk_operation=undo,
        )
        if undo.is_active and undo.status != BulkOperation.Status.PENDING_APPROVAL:
            engine.enqueue_on_commit(undo)
    return undo
