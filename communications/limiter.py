"""The rate limit per office and channel (seed 001's delivery settings:
``Office.max_messages_per_minute``), shared by every worker: a count per
calendar minute in Redis (one INCRBY for a batch's messages of the office
and channel, the excess given back), or in the database when there is no
Redis (one row per office, channel and minute, incremented under its lock
by what is left below the limit).
Not Celery's per-worker ``rate_limit``: with three workers that would be
three times the office's limit. A message over the limit is held until the
next minute, never dropped (``communications.dispatch``)."""

from __future__ import annotations

import datetime as dt
from functools import cache

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from communications.models import SendWindow


def minute_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def next_minute(moment: dt.datetime) -> dt.datetime:
    return minute_of(moment) + dt.timedelta(minutes=1)


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)


def take_slot(office_id: int, channel: str, limit: int, *, now: dt.datetime | None = None) -> bool:
    """Count one message of ``office_id`` on ``channel`` in this minute if
    the minute has room under ``limit``; False (nothing counted) if not."""
    return take_slots(office_id, channel, limit, 1, now=now) == 1


def take_slots(
    office_id: int, channel: str, limit: int, wanted: int, *, now: dt.datetime | None = None
) -> int:
    """Count up to ``wanted`` messages of ``office_id`` on ``channel`` in
    this minute, as many as the minute has room for under ``limit``; returns
    how many were counted (the rest must wait for the next minute)."""
    if wanted <= 0:
        return 0
    minute = minute_of(now or timezone.now())
    if settings.REDIS_URL:
        return _take_in_redis(office_id, channel, limit, minute, wanted)
    return _take_in_database(office_id, channel, limit, minute, wanted)


def _key(office_id, channel, minute) -> str:
    return f"collections:send-rate:{office_id}:{channel}:{int(minute.timestamp())}"


def _take_in_redis(office_id, channel, limit, minute, wanted=1) -> int:
    # One INCRBY for the lot; what went past the limit is given back. The
    # count only ever overstates what was granted (by claims not yet given
    # back), so the slots granted in a minute never exceed the limit.
    key = _key(office_id, channel, minute)
    client = _redis(settings.REDIS_URL)
    pipeline = client.pipeline()
    pipeline.incrby(key, wanted)
    pipeline.expire(key, 120)
    count, _ = pipeline.execute()
    over = min(wanted, max(0, count - limit))
    if over:
        client.decrby(key, over)  # not sent: give those slots back
    return wanted - over


def _take_in_database(office_id, channel, limit, minute, wanted=1) -> int:
    with transaction.atomic():
        window = _locked_window(office_id, channel, minute)
        if window is None:  # the minute's first: make its row
            try:
                with transaction.atomic():
                    SendWindow.objects.create(office_id=office_id, channel=channel, minute=minute)
            except IntegrityError:  # another worker made it first
                pass
            window = _locked_window(office_id, channel, minute)
        pk, sent = window
        granted = max(0, min(wanted, limit - sent))
        if granted:
            SendWindow.objects.filter(pk=pk).update(sent=F("sent") + granted)
    return granted


def _locked_window(office_id, channel, minute) -> tuple[int, int] | None:
    return (
        SendWindow.objects.select_for_update()
        .filter(office_id=office_id, channel=channel, minute=minute)
        .values_list("pk", "sent")
        .first()
    )


def sent_in(office_id: int, channel: str, minute: dt.datetime) -> int:
    """What the limiter counted (for tests and the batch pages)."""
    minute = minute_of(minute)
    if settings.REDIS_URL:
        return int(_redis(settings.REDIS_URL).get(_key(office_id, channel, minute)) or 0)
    window = SendWindow.objects.filter(office_id=office_id, channel=channel, minute=minute).first()
    return window.sent if window else 0


def purge_old_windows() -> int:
    """The database's counts of minutes gone by (Redis expires its own)."""
    deleted, _ = SendWindow.objects.filter(
        minute__lt=timezone.now() - dt.timedelta(hours=1)
    ).delete()
    return deleted
