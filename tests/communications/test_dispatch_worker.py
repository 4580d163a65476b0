"""The dispatch on real Celery workers: the beat task sent through the
broker to two workers at once delivers each due email exactly once to a
real SMTP server (the workers take messages with row locks, skipping the
ones another holds)."""

from __future__ import annotations

import time

import pytest

from communications.models import Message, MessageState
from communications.tasks import send_due_messages
from tests.factories import AccountFactory, CompanyFactory, DebtorEmailFactory

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 30


def test_two_workers_deliver_each_email_once(celery_workers, smtp, settings):
    company = CompanyFactory()
    for n in range(MESSAGES):
        account = AccountFactory(company=company)
        DebtorEmailFactory(debtor=account.debtor, address=f"debtor{n}@example.net")
        Message.objects.create(
            company=company, account=account, channel="email", to=f"debtor{n}@example.net",
            subject=f"Message {n}", text="Please call us.",
        )  # fmt: skip
    celery_workers.env.update(
        EMAIL_BACKEND=settings.EMAIL_BACKEND,
        EMAIL_HOST=settings.EMAIL_HOST,
        EMAIL_PORT=str(settings.EMAIL_PORT),
    )
    workers = [celery_workers.start(concurrency=1) for _ in range(2)]
    for _ in range(4):  # beat firing again while the first runs are still sending
        send_due_messages.delay()
    deadline = time.monotonic() + 60
    while Message.objects.exclude(state=MessageState.SENT).exists():
        for worker in workers:
            assert not worker.failed_tasks(), worker.log()
        assert time.monotonic() < deadline, [w.log() for w in workers]
        time.sleep(0.2)
    time.sleep(1)  # any late duplicate would arrive now
    received = sorted(to[0] for to, _ in smtp.messages)
    assert received == sorted(f"debtor{n}@example.net" for n in range(MESSAGES))
