"""No message sent twice when a worker dies: real Celery workers (separate
processes, through the real broker) SIGKILLed mid-dispatch, and counting at
the loopback SMTP and Twilio servers what arrived.

* Killed in the middle of a batch: every message ends ``sent`` (arrived
  exactly once) or ``unknown`` (arrived at most once: the ones the dead
  worker had taken), nothing lost, nothing twice; a fresh worker sends
  exactly the ones still queued at the kill.
* Killed at a chosen point, deterministically: while the provider has the
  whole message and the worker waits for its answer (the server holds the
  answer until the worker is dead), and after the provider answered but
  before the answer is committed (the test holds the message's row, or
  SQLite's write lock, so the commit cannot happen). Either way the message
  is left ``sending``, ``mark_lost_sendings`` makes it ``unknown``, it
  arrived once, and no worker sends it again.
* The same with the batched dispatch (``MESSAGE_DISPATCH_BATCH`` above
  one; the tests above run a message at a time, ``MESSAGE_DISPATCH_BATCH=1``):
  a worker killed mid-batch leaves every message of its batch not yet
  recorded ``sending``, sent or not, and each becomes ``unknown``, arrived
  at most once, never sent again; what was still queued is sent once by the
  next worker.
* The beat tasks ``mark_lost_sendings`` and ``purge_send_windows`` run by a
  real worker: their effect in the database."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import re
import sqlite3
import threading
import time
from collections import Counter
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone

from accounts.models import Account, DebtorEmail, DebtorPhone, Office
from collections_app.devservers.smtp import free_port
from collections_app.devservers.twilio import TwilioServer
from communications import limiter
from communications.models import Message, MessageEvent, MessageState, SendWindow
from communications.tasks import mark_lost_sendings, purge_send_windows, send_due_messages
from tests.bulkops.conftest import make_accounts
from tests.factories import AccountStatusFactory, CompanyFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

State = MessageState
SID, TOKEN, FROM = "AC" + "2" * 32, "crash-token", "+15005550006"
BATCH = 200
KILL_AFTER = 60  # arrivals at the server before the SIGKILL
PROVIDER_DELAY = 0.02  # seconds the server takes over each message
TIMEOUT = 30
DISPATCH_BATCH = 20  # MESSAGE_DISPATCH_BATCH of the batched tests
LOST = "The worker sending it was lost; it may have been sent."
FIRST, SECOND = "first worker", "second worker"


# --- what reached the provider ---------------------------------------------------------


class Arrivals:
    """Every message that reached a loopback provider, in order, with the
    phase of the test it arrived in. The server may be told to take a little
    time over each (``delay``) and to hold its answer to one message
    (``hold_pk``) until ``release`` is set; ``answered`` is set once the
    client has that answer."""

    def __init__(self):
        self._lock = threading.Lock()
        self.items: list[tuple[int, str]] = []
        self.phase = FIRST
        self.delay = 0.0
        self.hold_pk: int | None = None
        self.release = threading.Event()
        self.answered = threading.Event()

    def arrive(self, pk: int) -> None:
        with self._lock:
            self.items.append((pk, self.phase))

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)

    def __contains__(self, pk: int) -> bool:
        with self._lock:
            return any(item == pk for item, _ in self.items)

    def count(self) -> Counter:
        with self._lock:
            return Counter(pk for pk, _ in self.items)

    def in_phase(self, phase: str) -> set[int]:
        with self._lock:
            return {pk for pk, when in self.items if when == phase}


class SlowInbox:
    """aiosmtpd handler: a message has arrived once its DATA is in (the
    server has all of it); then it takes ``delay`` over it, or holds its
    answer until released, before saying 250."""

    def __init__(self, arrivals: Arrivals):
        self.arrivals = arrivals

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        received = email.message_from_bytes(envelope.content, policy=policy.default)
        pk = int(re.fullmatch(r"<message-(\d+)@[^>]+>", received["Message-ID"])[1])
        session.message_pk = pk
        self.arrivals.arrive(pk)
        if pk == self.arrivals.hold_pk:
            while not self.arrivals.release.is_set():
                await asyncio.sleep(0.01)
        elif self.arrivals.delay:
            await asyncio.sleep(self.arrivals.delay)
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        # Django's backend says QUIT only once sendmail() has returned: the
        # worker has the server's 250.
        if getattr(session, "message_pk", None) == self.arrivals.hold_pk:
            self.arrivals.answered.set()
        return "221 Bye"


class SlowTwilio(TwilioServer):
    """The loopback Twilio server (which records each accepted request in
    ``requests``), slowed or holding its answer the same way."""

    def __init__(self, arrivals: Arrivals):
        super().__init__(SID, TOKEN)
        base = self.httpd.RequestHandlerClass

        class Handler(base):
            def _answer(self, status, document):
                pk = None
                if status == 201:
                    pk = int(re.search(r"\[ref (\d+)\]", document["body"])[1])
                    arrivals.arrive(pk)
                    if pk == arrivals.hold_pk:
                        arrivals.release.wait(TIMEOUT * 2)
                    elif arrivals.delay:
                        time.sleep(arrivals.delay)
                with contextlib.suppress(OSError):  # the worker may be dead by now
                    super()._answer(status, document)
                if pk is not None and pk == arrivals.hold_pk:
                    arrivals.answered.set()

        self.httpd.RequestHandlerClass = Handler


class Provider:
    """One channel's loopback server, the environment that points a worker
    at it, and how to queue messages for it."""

    def __init__(self, channel: str, arrivals: Arrivals, env: dict[str, str]):
        self.channel, self.arrivals, self.env = channel, arrivals, env

    def queue(self, n: int) -> list[int]:
        """``n`` due messages, one per account, each to its own address or
        number of the debtor; returns their IDs in the order they are due."""
        company = CompanyFactory(name="Crash Recovery")
        accounts = make_accounts(
            n, company=company, status=AccountStatusFactory(name="Active"), prefix="C"
        )
        debtor_id = Account.objects.get(pk=accounts[0]).debtor_id  # one debtor, shared
        if self.channel == "email":
            to = [f"debtor{i}@example.net" for i in range(n)]
            DebtorEmail.objects.bulk_create(DebtorEmail(debtor_id=debtor_id, address=a) for a in to)
        else:
            to = [f"+1555{i:07d}" for i in range(n)]
            DebtorPhone.objects.bulk_create(DebtorPhone(debtor_id=debtor_id, number=t) for t in to)
        start = timezone.now() - dt.timedelta(seconds=n + 5)
        messages = Message.objects.bulk_create(
            Message(
                company=company, account_id=account_id, channel=self.channel, to=to[i],
                subject=f"Message {i}", text="Please call us.",
                send_after=start + dt.timedelta(seconds=i),
            )
            for i, account_id in enumerate(accounts)
        )  # fmt: skip
        pks = [m.pk for m in messages]
        if self.channel == "sms":  # a marker in each body: the server counts per message
            for message in Message.objects.filter(pk__in=pks):
                message.text = f"Please call us. [ref {message.pk}]"
                message.save(update_fields=["text"])
        return pks


@pytest.fixture
def email_provider():
    arrivals = Arrivals()
    port = free_port()
    controller = Controller(SlowInbox(arrivals), hostname="127.0.0.1", port=port)
    controller.start()
    env = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_USE_TLS": "false",
    }
    yield Provider("email", arrivals, env)
    arrivals.release.set()
    controller.stop()


@pytest.fixture
def sms_provider():
    arrivals = Arrivals()
    with SlowTwilio(arrivals) as server:
        env = {
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_FROM_NUMBER": FROM,
            "TWILIO_API_BASE": server.url,
            "TWILIO_STATUS_CALLBACK_URL": "",
        }
        provider = Provider("sms", arrivals, env)
        provider.server = server
        yield provider
        arrivals.release.set()
    # The server's own record agrees with the count.
    assert sorted(int(re.search(r"\[ref (\d+)\]", r["Body"])[1]) for r in server.requests) == (
        sorted(pk for pk, _ in arrivals.items)
    )
    assert all(r["From"] == FROM for r in server.requests)


@pytest.fixture(params=["email", "sms"])
def provider(request, celery_workers) -> Provider:
    """Each channel's provider, and the workers pointed at it; a message
    left sending is lost after 1 s (for ``mark_lost_sendings``). The workers
    send a message at a time (``MESSAGE_DISPATCH_BATCH=1``) unless a test
    says otherwise (``batched``)."""
    provider = request.getfixturevalue(f"{request.param}_provider")
    celery_workers.env.update(
        provider.env, MESSAGE_SENDING_TIMEOUT_SECONDS="1", MESSAGE_DISPATCH_BATCH="1"
    )
    return provider


def batched(celery_workers) -> None:
    """The workers take, send and record ``DISPATCH_BATCH`` messages at once."""
    celery_workers.env.update(MESSAGE_DISPATCH_BATCH=str(DISPATCH_BATCH))


# --- helpers ---------------------------------------------------------------------------


def wait_for(condition, what: str, workers, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for worker in workers:
            assert not worker.failed_tasks(), worker.log()[-5000:]
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}:\n" + "\n".join(
            w.log()[-3000:] for w in workers
        )
        time.sleep(0.02)


def run_task(worker, task) -> None:
    """Send ``task`` through the broker; return once ``worker`` has run it."""
    result = task.delay()
    line = f"{task.name}[{result.id}] succeeded"
    wait_for(lambda: line in worker.log(), f"{task.name} on {worker.name}", [worker])


def states(pks) -> dict[int, str]:
    return dict(Message.objects.filter(pk__in=pks).values_list("pk", "state"))


def wait_for_other_sessions_to_end(timeout: float = 15) -> None:
    """PostgreSQL: a SIGKILLed worker's sessions end (rolling back whatever
    was open) once the server reads the dead socket; wait for that, so what
    the test reads next is final. SQLite: its uncommitted writes are gone."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            if cursor.fetchone()[0] == 0:
                return
            assert time.monotonic() < deadline, "the killed worker's sessions never ended"
            time.sleep(0.05)


@contextlib.contextmanager
def commit_blocked(pk: int):
    """No worker can commit the answer for message ``pk`` while this holds:
    PostgreSQL, its row locked FOR UPDATE from another session (the worker
    records the answer under that row's lock); SQLite, the database's write
    lock (the worker's transactions are IMMEDIATE). Rolled back after."""
    if connection.vendor == "postgresql":
        raw = connection.get_new_connection(connection.get_connection_params())
        raw.autocommit = False
        try:
            with raw.cursor() as cursor:
                cursor.execute("SET lock_timeout = '10s'")  # fail, not hang, if a worker holds it
                cursor.execute(
                    "SELECT id FROM communications_message WHERE id = %s FOR UPDATE", [pk]
                )
            yield
        finally:
            raw.rollback()
            raw.close()
    else:
        raw = sqlite3.connect(connection.settings_dict["NAME"], timeout=10, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            yield
        finally:
            raw.execute("ROLLBACK")
            raw.close()


def wait_until_a_worker_waits_on_the_lock(workers) -> None:
    """PostgreSQL shows the worker's session waiting for the row: it is in
    the transaction that would record the answer. SQLite's busy wait is not
    visible from outside; the worker had the answer (``answered``), give it
    a moment to reach the commit."""
    if connection.vendor != "postgresql":
        time.sleep(0.5)
        return

    def waiting() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE '%communications_message%' "
                "AND query LIKE '%FOR UPDATE%'"
            )
            return cursor.fetchone()[0] == 1

    wait_for(waiting, "the worker to wait for the message's row", workers, timeout=10)


def wait_past_the_sending_timeout(killed_at: float) -> None:
    """The workers' MESSAGE_SENDING_TIMEOUT_SECONDS (1 s) has passed since
    the kill (a worker's start-up takes longer anyway)."""
    time.sleep(max(0.0, killed_at + 1.1 - time.monotonic()))


def finished(worker) -> None:
    """The test is over and ``worker`` idle: SIGKILL it rather than wait for
    its warm shutdown (7 s on the filesystem broker). Nothing it ran is
    left unacknowledged."""
    worker.kill()


def lost_events(pk: int) -> list[tuple[str, str]]:
    return list(
        MessageEvent.objects.filter(message_id=pk).order_by("pk").values_list("state", "detail")
    )


# --- killed in the middle of a batch ----------------------------------------------------


def test_a_worker_killed_mid_batch_sends_nothing_twice(provider, celery_workers):
    arrivals = provider.arrivals
    arrivals.delay = PROVIDER_DELAY
    pks = provider.queue(BATCH)

    first = celery_workers.start(concurrency=2)
    send_due_messages.delay()
    send_due_messages.delay()  # beat firing again: both pool processes sending
    wait_for(lambda: len(arrivals) >= KILL_AFTER, f"{KILL_AFTER} arrivals", [first])
    first.kill()
    killed_at = time.monotonic()
    wait_for_other_sessions_to_end()
    time.sleep(0.3)  # whatever was already in a socket's buffer has arrived by now
    at_kill = states(pks)
    arrivals.phase = SECOND

    # Some sent, some not yet taken: the kill landed in the middle. What a
    # worker had taken and not finished is still "sending"; nothing else.
    by_state = Counter(at_kill.values())
    assert set(by_state) <= {State.SENT, State.SENDING, State.QUEUED}, by_state
    assert KILL_AFTER - 2 <= by_state[State.SENT] < BATCH and by_state[State.QUEUED] > 0, by_state
    assert by_state[State.SENDING] <= 2  # two pool processes: at most one message each
    sent_before = {pk for pk, state in at_kill.items() if state == State.SENT}
    taken_before = {pk for pk, state in at_kill.items() if state == State.SENDING}
    queued_before = {pk for pk, state in at_kill.items() if state == State.QUEUED}
    assert arrivals.in_phase(FIRST) >= sent_before
    assert not arrivals.in_phase(FIRST) & queued_before  # never sent before it was taken

    # A fresh worker: the beat's sweep marks what was being sent unknown,
    # then the send finishes the rest.
    second = celery_workers.start()
    wait_past_the_sending_timeout(killed_at)
    run_task(second, mark_lost_sendings)
    assert {pk for pk, state in states(pks).items() if state == State.UNKNOWN} == taken_before
    run_task(second, send_due_messages)
    time.sleep(0.3)  # a late duplicate would arrive now

    final = states(pks)
    counts = arrivals.count()
    assert set(counts) <= set(pks)
    assert max(counts.values()) == 1, [pk for pk, n in counts.items() if n > 1]  # nothing twice
    sent = {pk for pk, state in final.items() if state == State.SENT}
    unknown = {pk for pk, state in final.items() if state == State.UNKNOWN}
    assert len(sent) + len(unknown) == BATCH  # nothing lost, nothing left waiting
    assert all(counts[pk] == 1 for pk in sent)
    assert unknown == taken_before and all(counts[pk] <= 1 for pk in unknown)
    assert arrivals.in_phase(SECOND) == queued_before  # the second worker sent only those
    assert sent == sent_before | queued_before
    for pk in unknown:  # each shown for a person to decide, with why
        assert Message.objects.get(pk=pk).error == LOST
        assert lost_events(pk) == [
            (State.SENDING, ""),
            (State.UNKNOWN, "The worker sending it was lost."),
        ]
    finished(second)


# --- killed at a chosen point ------------------------------------------------------------


@pytest.mark.parametrize("point", ["awaiting_answer", "answered_before_commit"])
def test_a_worker_killed_between_provider_and_commit_leaves_it_unknown_not_resent(
    provider, celery_workers, point
):
    arrivals = provider.arrivals
    pks = provider.queue(6)
    held = arrivals.hold_pk = pks[2]

    first = celery_workers.start()
    send_due_messages.delay()
    wait_for(lambda: held in arrivals, "the held message to reach the server", [first])
    # Taken and committed as "sending" before the provider was called.
    assert [states(pks)[pk] for pk in pks] == [State.SENT] * 2 + [State.SENDING] + [
        State.QUEUED
    ] * 3

    if point == "awaiting_answer":
        # The provider has it all; the worker waits for its answer, and dies.
        first.kill()
        killed_at = time.monotonic()
        arrivals.release.set()  # the provider keeps it: it had all of it
    else:
        with commit_blocked(held):
            arrivals.release.set()  # the provider accepts it, the worker has the answer
            assert arrivals.answered.wait(10), first.log()
            wait_until_a_worker_waits_on_the_lock([first])
            first.kill()  # before it could record the answer
            killed_at = time.monotonic()
    wait_for_other_sessions_to_end()
    time.sleep(0.3)
    assert Message.objects.get(pk=held).state == State.SENDING  # nobody knows
    arrivals.phase = SECOND

    second = celery_workers.start()
    wait_past_the_sending_timeout(killed_at)
    run_task(second, mark_lost_sendings)
    message = Message.objects.get(pk=held)
    assert (message.state, message.error, message.provider_id) == (State.UNKNOWN, LOST, "")
    assert lost_events(held) == [
        (State.SENDING, ""),
        (State.UNKNOWN, "The worker sending it was lost."),
    ]
    run_task(second, send_due_messages)
    run_task(second, send_due_messages)  # the beat again: the unknown one still waits
    time.sleep(0.3)

    final = states(pks)
    assert [final[pk] for pk in pks] == [State.SENT] * 2 + [State.UNKNOWN] + [State.SENT] * 3
    assert arrivals.count() == Counter(pks)  # each arrived exactly once, the held one too
    assert arrivals.in_phase(FIRST) == set(pks[:3])
    assert arrivals.in_phase(SECOND) == set(pks[3:])  # not the unknown one
    finished(second)


# --- the batched dispatch ------------------------------------------------------------------


def test_a_worker_killed_mid_batch_leaves_its_batch_unknown_and_sends_nothing_twice(
    provider, celery_workers
):
    batched(celery_workers)
    arrivals = provider.arrivals
    arrivals.delay = PROVIDER_DELAY
    pks = provider.queue(BATCH)

    first = celery_workers.start(concurrency=2)
    send_due_messages.delay()
    send_due_messages.delay()  # beat firing again: both pool processes sending
    wait_for(lambda: len(arrivals) >= KILL_AFTER, f"{KILL_AFTER} arrivals", [first])
    first.kill()
    killed_at = time.monotonic()
    wait_for_other_sessions_to_end()
    time.sleep(0.3)  # whatever was already in a socket's buffer has arrived by now
    at_kill = states(pks)
    arrivals.phase = SECOND

    by_state = Counter(at_kill.values())
    assert set(by_state) <= {State.SENT, State.SENDING, State.QUEUED}, by_state
    assert 0 < by_state[State.SENT] < BATCH and by_state[State.QUEUED] > 0, by_state
    assert by_state[State.SENDING] <= 2 * DISPATCH_BATCH  # two pool processes: a batch each
    sent_before = {pk for pk, state in at_kill.items() if state == State.SENT}
    taken_before = {pk for pk, state in at_kill.items() if state == State.SENDING}
    queued_before = {pk for pk, state in at_kill.items() if state == State.QUEUED}
    arrived_before = arrivals.in_phase(FIRST)
    assert arrived_before >= sent_before
    assert not arrived_before & queued_before  # never sent before it was taken
    # Answers are recorded at the end of each batch: what arrived and is not
    # recorded sent is at most the two batches being sent.
    assert len(arrived_before - sent_before) <= 2 * DISPATCH_BATCH
    assert arrived_before - sent_before <= taken_before

    second = celery_workers.start()
    wait_past_the_sending_timeout(killed_at)
    run_task(second, mark_lost_sendings)
    assert {pk for pk, state in states(pks).items() if state == State.UNKNOWN} == taken_before
    run_task(second, send_due_messages)
    time.sleep(0.3)  # a late duplicate would arrive now

    final = states(pks)
    counts = arrivals.count()
    assert set(counts) <= set(pks)
    assert max(counts.values()) == 1, [pk for pk, n in counts.items() if n > 1]  # nothing twice
    sent = {pk for pk, state in final.items() if state == State.SENT}
    unknown = {pk for pk, state in final.items() if state == State.UNKNOWN}
    assert len(sent) + len(unknown) == BATCH  # nothing lost, nothing left waiting
    assert all(counts[pk] == 1 for pk in sent)
    assert unknown == taken_before and all(counts[pk] <= 1 for pk in unknown)
    assert arrivals.in_phase(SECOND) == queued_before  # the second worker sent only those
    assert sent == sent_before | queued_before
    for pk in unknown:  # each shown for a person to decide, with why
        assert Message.objects.get(pk=pk).error == LOST
        assert lost_events(pk) == [
            (State.SENDING, ""),
            (State.UNKNOWN, "The worker sending it was lost."),
        ]
    finished(second)


@pytest.mark.parametrize("point", ["awaiting_answer", "answered_before_commit"])
def test_a_worker_killed_mid_batch_leaves_the_batch_unknown_not_resent(
    provider, celery_workers, point
):
    batched(celery_workers)
    arrivals = provider.arrivals
    pks = provider.queue(DISPATCH_BATCH + 4)  # a batch, and the start of the next
    batch, after = pks[:DISPATCH_BATCH], pks[DISPATCH_BATCH:]
    held = arrivals.hold_pk = pks[2]

    first = celery_workers.start()
    send_due_messages.delay()
    wait_for(lambda: held in arrivals, "the held message to reach the server", [first])
    # The whole batch was taken and committed as "sending" before the
    # provider was called, and the first two answers are not recorded yet
    # (at the end of the batch); the next batch is not taken yet.
    now = states(pks)
    assert [now[pk] for pk in batch] == [State.SENDING] * DISPATCH_BATCH
    assert [now[pk] for pk in after] == [State.QUEUED] * len(after)

    if point == "awaiting_answer":
        # The provider has the third; the worker waits for its answer, and dies.
        first.kill()
        killed_at = time.monotonic()
        arrivals.release.set()
        arrived = set(pks[:3])
    else:
        with commit_blocked(held):
            # The worker has the third's answer and records the answers it
            # has: at the end of the batch, or at once if a second has passed
            # since the take.
            arrivals.release.set()
            wait_until_a_worker_waits_on_the_lock([first])
            first.kill()  # before it could record them
            killed_at = time.monotonic()
        arrived = arrivals.in_phase(FIRST)
        assert arrived in (set(pks[:3]), set(batch)), sorted(arrived)
    wait_for_other_sessions_to_end()
    time.sleep(0.3)
    now = states(pks)
    assert [now[pk] for pk in batch] == [State.SENDING] * DISPATCH_BATCH  # nobody knows
    arrivals.phase = SECOND

    second = celery_workers.start()
    wait_past_the_sending_timeout(killed_at)
    run_task(second, mark_lost_sendings)
    for pk in batch:  # sent or not, each waits for a person
        message = Message.objects.get(pk=pk)
        assert (message.state, message.error, message.provider_id) == (State.UNKNOWN, LOST, "")
        assert lost_events(pk) == [
            (State.SENDING, ""),
            (State.UNKNOWN, "The worker sending it was lost."),
        ]
    run_task(second, send_due_messages)
    run_task(second, send_due_messages)  # the beat again: the unknown ones still wait
    time.sleep(0.3)

    final = states(pks)
    assert [final[pk] for pk in pks] == [State.UNKNOWN] * len(batch) + [State.SENT] * len(after)
    assert arrivals.count() == Counter(arrived | set(after))  # each at most once
    assert arrivals.in_phase(FIRST) == arrived
    assert arrivals.in_phase(SECOND) == set(after)  # none of the batch
    finished(second)


# --- the beat tasks on a real worker -----------------------------------------------------


def test_beat_tasks_mark_lost_sendings_and_purge_send_windows_on_a_worker(celery_workers):
    celery_workers.env.update(MESSAGE_SENDING_TIMEOUT_SECONDS="60")
    company = CompanyFactory(name="Beat Recovery")
    [account_id] = make_accounts(1, company=company, status=AccountStatusFactory(), prefix="B")
    now = timezone.now()

    def message(state, seconds_ago):
        return Message.objects.create(
            company=company, account_id=account_id, channel="email", to="b@example.net",
            state=state, state_changed_at=now - dt.timedelta(seconds=seconds_ago),
        )  # fmt: skip

    lost = message(State.SENDING, 120)  # past the worker's 60 s
    recent = message(State.SENDING, 5)  # still being sent, maybe
    old_queued = message(State.QUEUED, 3600)  # old, but never taken
    old_sent = message(State.SENT, 3600)

    office = Office.objects.create(company=company, name="Albany")
    minute = limiter.minute_of(now)

    def window(minutes_ago, channel="email"):
        return SendWindow.objects.create(
            office=office, channel=channel, minute=minute - dt.timedelta(minutes=minutes_ago),
            sent=3,
        )  # fmt: skip

    gone = [window(24 * 60), window(61), window(61, channel="sms")]
    kept = [window(0), window(1), window(58)]

    worker = celery_workers.start()
    run_task(worker, mark_lost_sendings)
    run_task(worker, purge_send_windows)

    lost.refresh_from_db()
    assert (lost.state, lost.error) == (State.UNKNOWN, LOST)
    assert lost_events(lost.pk) == [(State.UNKNOWN, "The worker sending it was lost.")]
    for other, state in (
        (recent, State.SENDING),
        (old_queued, State.QUEUED),
        (old_sent, State.SENT),
    ):
        other.refresh_from_db()
        assert other.state == state and not other.events.exists()
    remaining = set(SendWindow.objects.values_list("pk", flat=True))
    assert remaining == {w.pk for w in kept}
    assert not remaining & {w.pk for w in gone}

    # Run again: nothing more to do, nothing moves back.
    run_task(worker, mark_lost_sendings)
    lost.refresh_from_db()
    assert lost.state == State.UNKNOWN and lost.events.count() == 1
    finished(worker)
