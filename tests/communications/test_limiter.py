"""The office's messages-per-minute limit, shared by every worker: counted
per calendar minute in Redis (a real server, when the suite has one) or in
the database; a message over the limit is held until the next minute,
never dropped; Ignore Max Per Minute goes past it."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from accounts.models import Office
from communications import dispatch, limiter
from communications.models import Message, MessageState, SendWindow
from tests.factories import AccountFactory, DebtorEmailFactory

pytestmark = pytest.mark.django_db

BACKENDS = ["database"] + (["redis"] if django_settings.REDIS_URL else [])


@pytest.fixture(params=BACKENDS)
def backend(request, settings):
    if request.param == "database":
        settings.REDIS_URL = ""
    else:
        client = limiter._redis(settings.REDIS_URL)
        for key in client.scan_iter("collections:send-rate:*"):
            client.delete(key)
    return request.param


@pytest.fixture
def office(company):
    return Office.objects.create(company=company, name="Albany", max_messages_per_minute=3)


def test_the_limit_holds_per_minute_and_channel(backend, office):
    now = timezone.now()
    taken = [limiter.take_slot(office.pk, "email", 3, now=now) for _ in range(5)]
    assert taken == [True, True, True, False, False]
    assert limiter.sent_in(office.pk, "email", now) == 3  # refusals give their slot back
    assert limiter.take_slot(office.pk, "sms", 3, now=now)  # another channel
    assert limiter.take_slot(office.pk, "email", 3, now=now + dt.timedelta(minutes=1))


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_exceed_the_limit(backend, company):
    office = Office.objects.create(company=company, name="Troy", max_messages_per_minute=7)
    now = timezone.now()
    results = []

    def worker():
        try:
            for _ in range(5):
                results.append(limiter.take_slot(office.pk, "email", 7, now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 7 and len(results) == 20
    assert limiter.sent_in(office.pk, "email", now) == 7


def test_over_the_limit_a_message_is_held_until_the_next_minute(backend, office, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    account = AccountFactory(company=office.company, office=office)
    DebtorEmailFactory(debtor=account.debtor, address="zoe@example.net")
    messages = [
        Message.objects.create(
            company=office.company, account=account, channel="email", to="zoe@example.net",
            subject="s", text="t", ignore_rate_limit=(i == 4),
        )
        for i in range(5)
    ]  # fmt: skip
    assert dispatch.send_due_messages() == 4  # taken for sending; one held
    states = {m.pk: Message.objects.get(pk=m.pk) for m in messages}
    sent = [m for m in states.values() if m.state == MessageState.SENT]
    held = [m for m in states.values() if m.state == MessageState.HELD]
    assert len(sent) == 4 and len(held) == 1  # three in the minute, plus the one ignoring it
    assert states[messages[4].pk].state == MessageState.SENT
    [waiting] = held
    assert waiting.rule == "rate_limit" and "at most 3 Email a minute" in waiting.reason
    assert waiting.send_after == limiter.next_minute(waiting.state_changed_at)
    assert dispatch.send_due_messages() == 0  # not before its minute
    # The next minute: its count starts again, and the message goes.
    reset_counts(backend)
    Message.objects.filter(pk=waiting.pk).update(send_after=timezone.now())
    assert dispatch.send_due_messages() == 1
    assert Message.objects.get(pk=waiting.pk).state == MessageState.SENT


def reset_counts(backend):
    if backend == "database":
        SendWindow.objects.all().delete()
    else:
        client = limiter._redis(django_settings.REDIS_URL)
        for key in client.scan_iter("collections:send-rate:*"):
            client.delete(key)
