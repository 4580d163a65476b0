"""Reads of the bulkops app."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from bulkops import registry
from bulkops.models import AuditEvent, BulkOperation, WorkerHeartbeat

HEARTBEAT_INTERVAL_SECONDS = 15


def last_worker_heartbeat() -> dt.datetime | None:
    latest = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    return latest


def workers_alive() -> bool:
    """Whether some worker ran the heartbeat in the last few intervals."""
    latest = last_worker_heartbeat()
    if latest is None:
        return False
    return timezone.now() - latest < dt.timedelta(seconds=HEARTBEAT_INTERVAL_SECONDS * 4)


def describe_operation(operation) -> str:
    """What an operation does, in one line: its action's description with
    its extensions' (the label alone once no app registers the action).
    Its page, Approvals and the apps' own lists of operations show this."""
    action = registry.get_action(operation.kind)
    if action is None:
        return registry.label_of(operation.kind)
    return action.full_description(operation.parameters)


def selectable_of(operation) -> registry.Selectable | None:
    """The list an operation's rows are from, if an app still registers it."""
    try:
        return registry.get_selectable(operation.target)
    except LookupError:
        return None


def chunk_times(operation, target_ids: list[int]) -> dict[int, object]:
    """When the latest chunk that covered each of these rows committed: the
    processed time of a row done by the cursor (its item holds none)."""
    if not target_ids:
        return {}
    chunks = list(
        operation.chunks.filter(
            first_target_id__lte=max(target_ids), last_target_id__gte=min(target_ids)
        )
        .order_by("committed_at")
        .values_list("first_target_id", "last_target_id", "committed_at")
    )
    times = {}
    for target_id in target_ids:
        for first, last, committed_at in chunks:  # the latest covering wins
            if first <= target_id <= last:
                times[target_id] = committed_at
    return times


def with_processed_times(operation, items):
    """Give each item of a page ``processed_time``: when its outcome was
    written, else, for one done by the cursor, its chunk's time."""
    items = list(items)
    implicit = chunk_times(
        operation, [i.target_id for i in items if i.processed_at is None and i.settled == "done"]
    )
    for item in items:
        item.processed_time = item.processed_at or implicit.get(item.target_id)
    return items


def operations_visible_to(user):
    """Bulk operations of the user's company (all, for the platform operator)."""

    if not user.is_authenticated:
        return BulkOperation.objects.none()
    queryset = BulkOperation.objects.select_related("created_by")
    if user.is_superuser:
        return queryset
    if user.company_id is None:
        return BulkOperation.objects.none()
    return queryset.filter(company_id=user.company_id)


def audit_events_visible_to(user):
    """The audit events of the user's company (all, for the platform
    operator): one range of ``audit_company_idx``, newest first."""
    queryset = AuditEvent.objects.select_related("actor")
    if user.is_superuser:
        return queryset
    if user.company_id is None:
        return AuditEvent.objects.none()
    return queryset.filter(company_id=user.company_id)


def with_object_links(events):
    """Give each audit event ``object_name`` and ``object_url``: the row it is
    about as its list names it (a file number linking to the account page),
    one query per kind of row on the page; other objects by type and id."""
    events = list(events)
    by_type: dict[str, list[int]] = {}
    for event in events:
        by_type.setdefault(event.object_type, []).append(event.object_id)
    names: dict[str, dict] = {}
    for selectable in registry.selectables():
        if selectable.object_type in by_type:
            names[selectable.object_type] = selectable.describe_rows(
                by_type[selectable.object_type]
            )
    for event in events:
        name, url = names.get(event.object_type, {}).get(event.object_id, ("", ""))
        event.object_name = name or f"{event.object_type} {event.object_id}"
        event.object_url = url
    return events


def with_readable_changes(events):
    """Give each audit event ``readable_changes``: [(field, before, after)]
    with references to other objects shown by name (the fields apps
    registered with ``registry.register_audit_reference``), one query per
    kind of reference for the whole page rather than per event."""
    from django.apps import apps

    events = list(events)
    references = {
        field: apps.get_model(label) for field, label in registry.audit_references().items()
    }
    wanted: dict[str, set] = {field: set() for field in references}
    for event in events:
        for field, change in (event.changes or {}).items():
            if field in references and isinstance(change, list):
                wanted[field].update(v for v in change if isinstance(v, int))
    names: dict[str, dict] = {}
    for field, ids in wanted.items():
        model = references[field]
        names[field] = {obj.pk: str(obj) for obj in model.objects.filter(pk__in=ids)} if ids else {}
    for event in events:
        readable = []
        for field, change in (event.changes or {}).items():
            before, after = (
                (change + [None, None])[:2] if isinstance(change, list) else (None, change)
            )
            if field in names:
                before = names[field].get(before, before)
                after = names[field].get(after, after)
            readable.append((field.replace("_", " "), before, after))
        event.readable_changes = readable
    return events
