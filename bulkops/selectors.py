"""Reads of the bulkops app."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

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
