"""The rate limit per office and channel (seed 001's delivery settings:
``Office.max_messages_per_minute``), shared by every worker: a count per
calendar minute in Redis (one INCR), or in the database when there is no
Redis (one row per office, channel and minute, incremented under its lock).
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
    minute = minute_of(now or timezone.now())
    if settings.REDIS_URL:
        return _take_in_redis(office_id, channel, limit, minute)
    return _take_in_database(office_id, channel, limit, minute)


def _take_in_redis(office_id, channel, limit, minute) -> bool:
    key = f"collections:send-rate:{office_id}:{channel}:{int(minute.timestamp())}"
    client = _redis(settings.REDIS_URL)
    pipeline = client.pipeline()
    pipeline.incr(key)
    pipeline.expire(key, 120)
    count, _ = pipeline.execute()
    if count <= limit:
        return True
    client.decr(key)  # not sent: give the slot back
    return False


def _take_in_database(office_id, channel, limit, minute) -> bool:
    with transaction.atomic():
        try:
            with transaction.atomic():
                SendWindow.objects.get_or_create(
                    office_id=office_id, channel=channel, minute=minute
                )
        except IntegrityError:  # another worker created it first
            pass
        taken = SendWindow.objects.filter(
            office_id=office_id, channel=channel, minute=minute, sent__lt=limit
        ).update(sent=F("sent") + 1)
    return taken == 1


def sent_in(office_id: int, channel: str, minute: dt.datetime) -> int:
    """What the limiter counted (for tests and the batch pages)."""
    minute = minute_of(minute)
    if settings.REDIS_URL:
        key = f"collections:send-rate:{office_id}:{channel}:{int(minute.timestamp())}"
        return int(_redis(settings.REDIS_URL).get(key) or 0)
    window = SendWindow.objects.filter(office_id=office_id, channel=channel, minute=minute).first()
    return window.sent if window else 0


def purge_old_windows() -> int:
    """The database's counts of minutes gone by (Redis expires its own)."""
    deleted, _ = SendWindow.objects.filter(
        minute__lt=timezone.now() - dt.timedelta(hours=1)
    ).delete()
    return deleted
