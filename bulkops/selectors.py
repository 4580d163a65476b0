"""Reads of the bulkops app."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils import timezone

from bulkops import registry
from bulkops.models import WorkerHeartbeat

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


def selectable_of(operation) -> registry.Selectable | None:
    """The list an operation's rows are from, if an app still registers it."""
    try:
        return registry.get_selectable(operation.target)
    except LookupError:
        return None


def operations_visible_to(user):
    """Bulk operations of the user's company (all, for the platform operator)."""
    from bulkops.models import BulkOperation

    if not user.is_authenticated:
        return BulkOperation.objects.none()
    queryset = BulkOperation.objects.select_related("created_by")
    if user.is_superuser:
        return queryset
    if user.company_id is None:
        return BulkOperation.objects.none()
    return queryset.filter(company_id=user.company_id)


def audit_events_visible_to(user):
    """Audit events about the user's company's operations, accounts and users
    (failed logins and lockouts name the user; those naming a username that is
    nobody's are for platform superusers only)."""
    from django.contrib.auth import get_user_model

    from accounts.selectors import accounts_visible_to
    from bulkops.models import AuditEvent

    queryset = AuditEvent.objects.select_related("actor", "bulk_operation")
    if user.is_superuser:
        return queryset
    if user.company_id is None:
        return AuditEvent.objects.none()
    account_ids = accounts_visible_to(user).values("pk")
    User = get_user_model()
    user_ids = User.objects.filter(company_id=user.company_id).values("pk")
    return queryset.filter(
        models.Q(object_type="accounts.account", object_id__in=account_ids)
        | models.Q(object_type=User._meta.label_lower, object_id__in=user_ids)
        | models.Q(bulk_operation__company_id=user.company_id)
        | models.Q(actor__company_id=user.company_id)
    )


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
