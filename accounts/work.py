"""Writes of a collector's work on one account (seed 004): notes,
interactions, tasks and the validity of the debtor's phone numbers. Each in
a transaction with its audit record; each checks that the actor holds the
right and may see the account, so that a view (or any later caller) cannot
forget to. Reads for the same pages are at the bottom."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import (
    Account,
    DebtorPhone,
    Interaction,
    Note,
    Task,
    WorkGroup,
    WorkQueue,
)
from accounts.selectors import accounts_visible_to, configuration_usable_by
from bulkops.services import record_audit_event, record_audit_events

WORK_PERMISSION = "accounts.work_account"
MAX_TAGS, MAX_TAG_LENGTH = 10, 40


def _require(actor, account: Account, permission: str = WORK_PERMISSION) -> None:
    if not actor.has_perm(permission):
        raise PermissionDenied("Your role may not do this.")
    if not accounts_visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("That account is not available to you.")


def _usable(actor, row, what: str) -> None:
    """A configuration row (note type, outcome, reason) the actor is offered."""
    if row is not None and (not configuration_usable_by(actor, row) or not row.is_active):
        raise ValidationError({what: "Choose one of the options offered."})


# --- notes and interactions --------------------------------------------------------------


@transaction.atomic
def add_note(*, actor, account: Account, note_type, body: str) -> Note:
    _require(actor, account)
    _usable(actor, note_type, "note_type")
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "Write the note."})
    note = Note.objects.create(account=account, note_type=note_type, body=body, author=actor)
    record_audit_event(
        actor=actor,
        action="note.added",
        obj=note,
        changes={"note_type": (None, str(note_type or "")), "body": (None, body)},
    )
    return note


@transaction.atomic
def add_interaction(
    *,
    actor,
    account: Account,
    method: str,
    outcome,
    direction: str,
    delinquency_reason,
    additional_information: str = "",
) -> Interaction:
    """Record a contact with the debtor; the account's Last Worked becomes now."""
    _require(actor, account)
    if method not in Interaction.Method.values:
        raise ValidationError({"method": "Choose a communication method."})
    if direction not in Interaction.Direction.values:
        raise ValidationError({"direction": "Choose the direction of the contact."})
    _usable(actor, outcome, "outcome")
    _usable(actor, delinquency_reason, "delinquency_reason")
    now = timezone.now()
    interaction = Interaction.objects.create(
        account=account,
        method=method,
        outcome=outcome,
        direction=direction,
        delinquency_reason=delinquency_reason,
        additional_information=(additional_information or "").strip(),
        user=actor,
        created_at=now,
    )
    before = Account.objects.filter(pk=account.pk).values_list("last_worked_at", flat=True)[0]
    Account.objects.filter(pk=account.pk).update(last_worked_at=now)
    account.last_worked_at = now
    record_audit_event(
        actor=actor,
        action="interaction.recorded",
        obj=interaction,
        changes={
            "method": (None, method),
            "outcome": (None, str(outcome)),
            "direction": (None, direction),
            "delinquency_reason": (None, str(delinquency_reason)),
        },
    )
    record_audit_event(
        actor=actor,
        action="account.worked",
        obj=account,
        changes={"last_worked_at": (before, now)},
    )
    return interaction


# --- tasks -----------------------------------------------------------------------------


def parse_tags(text: str) -> list[str]:
    """Tags as typed, comma-separated: trimmed, empty ones and repeats dropped."""
    tags: list[str] = []
    for raw in (text or "").split(","):
        tag = " ".join(raw.split())
        if tag and tag.lower() not in {t.lower() for t in tags}:
            if len(tag) > MAX_TAG_LENGTH:
                raise ValidationError({"tags": f"A tag has at most {MAX_TAG_LENGTH} characters."})
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError({"tags": f"At most {MAX_TAGS} tags."})
    return tags


def _checked_assignment(actor, *, queue, assignee, group) -> None:
    """A queue (optionally one of its members) or a group, of the actor's company."""
    if (queue is None) == (group is None):
        raise ValidationError("Assign the task to a queue or to a group.")
    team = queue or group
    if not team.is_active or (not actor.is_superuser and team.company_id != actor.company_id):
        field = "queue" if queue is not None else "group"
        raise ValidationError({field: "Choose one of your company's queues or groups."})
    if assignee is not None:
        if queue is None:
            raise ValidationError({"assignee": "Only a task for a queue names a user."})
        if not assignee.is_active or not queue.members.filter(pk=assignee.pk).exists():
            raise ValidationError({"assignee": f"{assignee} does not work the queue {queue}."})


def _checked_due_date(due_date: dt.date | None, *, was: dt.date | None = None) -> dt.date:
    if due_date is None:
        raise ValidationError({"due_date": "Give the due date."})
    if due_date < timezone.localdate() and due_date != was:
        raise ValidationError({"due_date": "The due date cannot be in the past."})
    return due_date


@transaction.atomic
def create_task(
    *,
    actor,
    account: Account,
    queue: WorkQueue | None = None,
    assignee=None,
    group: WorkGroup | None = None,
    due_date: dt.date | None,
    tags: list[str] = (),
    notes: str = "",
) -> Task:
    _require(actor, account)
    _checked_assignment(actor, queue=queue, assignee=assignee, group=group)
    now = timezone.now()
    task = Task.objects.create(
        account=account,
        queue=queue,
        assignee=assignee,
        group=group,
        due_date=_checked_due_date(due_date),
        tags=list(tags),
        notes=(notes or "").strip(),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    record_audit_event(
        actor=actor,
        action="task.created",
        obj=task,
        changes={
            "assigned_to": (None, str(queue or group) + (f" / {assignee}" if assignee else "")),
            "due_date": (None, task.due_date),
        },
    )
    return task


def _locked_open_task(actor, task: Task, loaded_at: dt.datetime | None) -> Task:
    """The task, locked, still open and as the actor last saw it."""
    locked = Task.objects.select_for_update().filter(pk=task.pk).first()
    if locked is None or not tasks_visible_to(actor).filter(pk=task.pk).exists():
        raise PermissionDenied("That task is not available to you.")
    _require(actor, locked.account)
    if locked.status != Task.Status.OPEN:
        raise ValidationError("This task has been resolved already.")
    if loaded_at is not None and locked.updated_at > loaded_at:
        raise ValidationError(
            "This task was changed by someone else since you opened it: "
            "reload it to see the changes."
        )
    return locked


@transaction.atomic
def edit_task(
    *,
    actor,
    task: Task,
    loaded_at: dt.datetime | None,
    queue: WorkQueue | None = None,
    assignee=None,
    group: WorkGroup | None = None,
    due_date: dt.date | None,
    tags: list[str] = (),
    notes: str = "",
) -> dict:
    """Change an open task; refused (nothing changed) when it was changed
    since ``loaded_at``. Returns the changes."""
    task = _locked_open_task(actor, task, loaded_at)
    _checked_assignment(actor, queue=queue, assignee=assignee, group=group)
    new = {
        "queue": queue,
        "assignee": assignee,
        "group": group,
        "due_date": _checked_due_date(due_date, was=task.due_date),
        "tags": list(tags),
        "notes": (notes or "").strip(),
    }
    changes = {}
    for field, value in new.items():
        old = getattr(task, field)
        if old != value:
            changes[field] = (
                str(old) if hasattr(old, "pk") else old,
                str(value) if hasattr(value, "pk") else value,
            )
            setattr(task, field, value)
    if changes:
        task.updated_at = timezone.now()
        task.save(update_fields=[*new, "updated_at"])
        record_audit_event(actor=actor, action="task.edited", obj=task, changes=changes)
    return changes


@transaction.atomic
def resolve_task(
    *, actor, task: Task, note: str = "", loaded_at: dt.datetime | None = None
) -> Task:
    task = _locked_open_task(actor, task, loaded_at)
    now = timezone.now()
    task.status, task.resolved_by, task.resolved_at = Task.Status.RESOLVED, actor, now
    task.resolution_note, task.updated_at = (note or "").strip(), now
    task.save(
        update_fields=["status", "resolved_by", "resolved_at", "resolution_note", "updated_at"]
    )
    record_audit_event(
        actor=actor,
        action="task.resolved",
        obj=task,
        changes={"status": (Task.Status.OPEN, Task.Status.RESOLVED)},
    )
    return task


@dataclass(frozen=True)
class SystemTask:
    """A task the system makes (a broken promise's, say), for ``user`` when
    they work ``queue``, for the queue otherwise."""

    account_id: int
    queue: WorkQueue
    user_id: int | None
    due_date: dt.date
    tag: str
    notes: str


def create_system_tasks(wanted: list[SystemTask], *, now: dt.datetime) -> int:
    """Create the tasks in one statement, with their audit events."""
    if not wanted:
        return 0
    members = set(
        WorkQueue.members.through.objects.filter(
            workqueue_id__in={w.queue.pk for w in wanted}
        ).values_list("workqueue_id", "user_id")
    )
    tasks = Task.objects.bulk_create(
        Task(
            account_id=w.account_id,
            queue=w.queue,
            assignee_id=w.user_id if (w.queue.pk, w.user_id) in members else None,
            due_date=w.due_date,
            tags=[w.tag],
            notes=w.notes,
            created_at=now,
            updated_at=now,
        )
        for w in wanted
    )
    record_audit_events(
        actor=None,
        action="task.created",
        model=Task,
        changes_by_id=((t.pk, {"due_date": (None, t.due_date)}) for t in tasks),
        occurred_at=now,
    )
    return len(tasks)


# --- phone numbers ---------------------------------------------------------------------


@transaction.atomic
def set_phone_validity(
    *, actor, account: Account, phone_id: int, valid: bool, notes: str = ""
) -> DebtorPhone:
    """Validate or invalidate one of the account's debtor's numbers; notes
    are required to invalidate one. Who and when are kept on the number."""
    _require(actor, account)
    phone = (
        DebtorPhone.objects.select_for_update()
        .filter(pk=phone_id, debtor_id=account.debtor_id)
        .first()
    )
    if phone is None:
        raise ValidationError({"phone": "That number is not this account's debtor's."})
    notes = (notes or "").strip()
    if not valid and not notes:
        raise ValidationError({"notes": "Say why the number is invalid."})
    new = DebtorPhone.Validity.VALID if valid else DebtorPhone.Validity.INVALID
    before = {"validity": phone.validity, "validity_note": phone.validity_note}
    phone.validity, phone.validity_note = new, notes[:255]
    phone.validity_changed_by, phone.validity_changed_at = actor, timezone.now()
    phone.save(
        update_fields=["validity", "validity_note", "validity_changed_by", "validity_changed_at"]
    )
    record_audit_event(
        actor=actor,
        action="phone.validated" if valid else "phone.invalidated",
        obj=account,
        changes={
            "phone_validity": (before["validity"], new),
            "phone_validity_note": (before["validity_note"], phone.validity_note),
        },
    )
    return phone


# --- reads -------------------------------------------------------------------------------


def tasks_visible_to(user) -> QuerySet[Task]:
    """Tasks of the accounts ``user`` may see."""
    return Task.objects.filter(account__in=accounts_visible_to(user))


def teams_for(user, model) -> QuerySet:
    """The active queues (or groups) a user may assign tasks to: their company's."""
    queryset = model.objects.filter(is_active=True)
    if not user.is_superuser:
        queryset = queryset.filter(company_id=user.company_id)
    return queryset.order_by("name")


def my_tasks(user) -> dict[str, list[Task]]:
    """The user's open tasks (their own, their queues' unnamed ones, their
    groups'), as the My tasks page shows them: overdue, due today, and the
    rest by queue."""
    today = timezone.localdate()
    mine = (
        tasks_visible_to(user)
        .filter(status=Task.Status.OPEN)
        .filter(
            Q(assignee=user)
            | Q(assignee__isnull=True, queue__members=user)
            | Q(group__members=user)
        )
        .select_related("account__debtor", "queue", "group", "assignee")
        .distinct()
        .order_by("due_date", "pk")
    )
    overdue, due_today, by_queue = [], [], {}
    for task in mine[:500]:
        if task.due_date < today:
            overdue.append(task)
        elif task.due_date == today:
            due_today.append(task)
        else:
            by_queue.setdefault(str(task.queue or task.group), []).append(task)
    return {"overdue": overdue, "due_today": due_today, "by_queue": sorted(by_queue.items())}
