"""The batched dispatch: the gate asked once for a batch (``check_many``,
each rule's ``prefetch`` once), the office's limit counted once per office
and channel (``take_slots``, both backends), and a batch taken, sent over
one connection and recorded, set-based: a suppression, holds over the
limit, a refusal and a lost connection in the middle of a batch each end
only their own message, and the statements do not grow with the batch."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ContactPoint, DebtorPhone, Office
from collections_app.devservers.smtp import Inbox, free_port
from collections_app.devservers.twilio import TwilioServer
from communications import dispatch, gate, limiter
from communications.models import Message, MessageEvent, MessageState
from tests.factories import AccountFactory, DebtorEmailFactory

pytestmark = pytest.mark.django_db

State = MessageState
BACKENDS = ["database"] + (["redis"] if django_settings.REDIS_URL else [])


@pytest.fixture(params=BACKENDS)
def backend(request, settings):
    if request.param == "database":
        settings.REDIS_URL = ""
    return request.param


@pytest.fixture
def office(company):
    return Office.objects.create(company=company, name="Albany", max_messages_per_minute=4)


def email_to(office_or_company, address: str, *, point: dict | None = None, **fields) -> Message:
    """A due email to a debtor of its own who has ``address`` (with
    ``point``'s changes, e.g. opted out)."""
    if isinstance(office_or_company, Office):
        account = AccountFactory(company=office_or_company.company, office=office_or_company)
    else:
        account = AccountFactory(company=office_or_company)
    DebtorEmailFactory(debtor=account.debtor, address=address, **(point or {}))
    values = {
        "company": account.company,
        "account": account,
        "channel": "email",
        "to": address,
        "subject": f"To {address}",
        "text": "Please call us.",
    }
    return Message.objects.create(**(values | fields))


# --- the gate, for a batch -------------------------------------------------------------------


def test_check_many_answers_as_check_does_in_two_queries(company, django_assert_num_queries):
    allowed = email_to(company, "ann@example.net")
    other_case = email_to(company, "Bob@Example.net", to="bob@example.net")  # the same address
    opted_out = email_to(company, "cy@example.net", point={"email_opted_out": True})
    invalid = email_to(company, "di@example.net", point={"validity": ContactPoint.Validity.INVALID})
    gone = email_to(company, "ed@example.net", to="someone-else@example.net")
    sms = Message.objects.create(
        company=company, account=allowed.account, channel="sms", to="+15555550123", text="Hi"
    )
    DebtorPhone.objects.create(debtor=allowed.account.debtor, number="+15555550123")
    no_consent = Message.objects.create(
        company=company, account=allowed.account, channel="sms", to="+15555550124", text="Hi"
    )
    DebtorPhone.objects.create(
        debtor=allowed.account.debtor, number="+15555550124", sms_consent=False
    )
    messages = list(
        Message.objects.select_related("account").filter(
            pk__in=[m.pk for m in (allowed, other_case, opted_out, invalid, gone, sms, no_consent)]
        )
    )
    # The debtors' emails and phones; each account's legal stops, its
    # debtor's do-not-contact, whereabouts and hours (one query); the
    # companies' weekly caps. Not one query per message. On PostgreSQL the
    # screen's one statement reads all of that and decides every one of
    # these (its statement is prepared once per connection, first).
    gate.check_many(messages)
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 4):
        decisions = gate.check_many(messages)
    assert {pk: (d.action, d.rule) for pk, d in decisions.items()} == {
        allowed.pk: (gate.SEND, ""),
        other_case.pk: (gate.SEND, ""),
        opted_out.pk: (gate.SUPPRESS, "opt_out"),
        invalid.pk: (gate.SUPPRESS, "contact_point"),
        gone.pk: (gate.SUPPRESS, "contact_point"),
        sms.pk: (gate.SEND, ""),
        no_consent.pk: (gate.SUPPRESS, "consent"),
    }
    assert "no longer the debtor's" in decisions[gone.pk].reason
    for message in messages:  # one at a time, the same answers
        assert gate.check(message) == decisions[message.pk]


def test_a_rule_with_prefetch_looks_up_once_per_batch(company, monkeypatch):
    monkeypatch.setattr(gate, "_RULES", list(gate._RULES))
    later = timezone.now() + dt.timedelta(hours=3)
    asked = []

    def hours(messages):
        asked.append(sorted(m.pk for m in messages))
        return {m.pk: later for m in messages if m.subject.endswith("night")}

    @gate.rule("quiet_hours", prefetch=hours)
    def quiet_hours(message, until_by_pk):
        if message.pk in until_by_pk:
            return gate.defer("quiet_hours", "Not at night", until_by_pk[message.pk])
        return None

    gate.rule("plain")(lambda m: None)  # a rule without a prefetch takes the message alone
    day = email_to(company, "ann@example.net", subject="day")
    night = email_to(company, "bob@example.net", subject="night")
    opted_out = email_to(
        company, "cy@example.net", subject="night", point={"email_opted_out": True}
    )
    messages = list(Message.objects.select_related("account").order_by("pk"))
    decisions = gate.check_many(messages)
    assert asked == [sorted([day.pk, night.pk])]  # once, without the one already suppressed
    assert decisions[day.pk].action == gate.SEND
    assert decisions[night.pk] == gate.defer("quiet_hours", "Not at night", later)
    assert decisions[opted_out.pk].rule == "opt_out"  # a suppression wins
    assert gate.rules()[-2:] == ["quiet_hours", "plain"]
    with pytest.raises(ValueError, match="Two gate rules"):
        gate.rule("quiet_hours")(lambda m: None)


# --- the limit, for a group ------------------------------------------------------------------


def test_take_slots_grants_what_the_minute_has_room_for(backend, office):
    now = timezone.now()
    assert limiter.take_slots(office.pk, "email", 7, 5, now=now) == 5
    assert limiter.take_slots(office.pk, "email", 7, 5, now=now) == 2
    assert limiter.take_slots(office.pk, "email", 7, 5, now=now) == 0
    assert limiter.sent_in(office.pk, "email", now) == 7  # the excess given back
    assert limiter.take_slots(office.pk, "email", 7, 0, now=now) == 0
    assert limiter.take_slots(office.pk, "sms", 7, 9, now=now) == 7  # another channel
    assert limiter.take_slots(office.pk, "email", 7, 3, now=now + dt.timedelta(minutes=1)) == 3
    assert not limiter.take_slot(office.pk, "email", 7, now=now)  # one at a time, the same count


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_never_exceed_the_limit(backend, company):
    office = Office.objects.create(company=company, name="Troy", max_messages_per_minute=11)
    now = timezone.now()
    granted = []

    def worker():
        try:
            for _ in range(4):
                granted.append(limiter.take_slots(office.pk, "email", 11, 3, now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 11 and len(granted) == 16
    assert limiter.sent_in(office.pk, "email", now) == 11


# --- a batch over one SMTP connection --------------------------------------------------------


class Server(Inbox):
    """The loopback SMTP server, which also notes the connection each
    message came over, refuses ``refuse`` as a recipient (550) and drops
    the connection once it has all of ``drop``'s message."""

    def __init__(self, refuse: str = "", drop: str = ""):
        super().__init__()
        self.refuse, self.drop = refuse, drop
        self.connections: dict[str, tuple] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address == self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        answer = await super().handle_DATA(server, session, envelope)
        self.connections[envelope.rcpt_tos[0]] = session.peer
        if envelope.rcpt_tos[0] == self.drop:
            server.transport.close()  # the server has it all; the client never hears back
        return answer


@pytest.fixture
def server(settings):
    servers = []

    def start(**options) -> Server:
        handler = Server(**options)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        servers.append(controller)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
        settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = False, 5
        return handler

    yield start
    for controller in servers:
        controller.stop()


def test_a_batch_suppresses_holds_fails_and_sends_each_its_own_way(server, office):
    inbox = server(refuse="b@example.net")
    opted_out = email_to(office, "x@example.net", point={"email_opted_out": True})
    a, b, c, d, e, f = (email_to(office, f"{n}@example.net") for n in "abcdef")
    urgent = email_to(office, "u@example.net", ignore_rate_limit=True)

    assert dispatch.send_due_messages() == 5  # a, b, c, d within the limit of 4, and urgent

    states = dict(Message.objects.values_list("pk", "state"))
    assert states == {
        opted_out.pk: State.SUPPRESSED,
        a.pk: State.SENT, b.pk: State.FAILED, c.pk: State.SENT, d.pk: State.SENT,
        e.pk: State.HELD, f.pk: State.HELD,
        urgent.pk: State.SENT,
    }  # fmt: skip
    assert sorted(to[0] for to, _ in inbox.messages) == [
        "a@example.net", "c@example.net", "d@example.net", "u@example.net",
    ]  # fmt: skip
    # One connection for the batch, a fresh one after the refusal.
    peers = inbox.connections
    assert peers["c@example.net"] == peers["d@example.net"] == peers["u@example.net"]
    assert peers["a@example.net"] != peers["c@example.net"]
    failed = Message.objects.get(pk=b.pk)
    assert failed.error.startswith("Refused: ") and "No such user" in failed.error
    for message in Message.objects.filter(pk__in=[e.pk, f.pk]):
        assert message.rule == "rate_limit" and "at most 4 Email a minute" in message.reason
        assert message.send_after == limiter.next_minute(message.state_changed_at)
        assert message.attempts == 0
    assert dispatch.take_batch(50).examined == 0  # nothing else is due
    assert limiter.sent_in(office.pk, "email", timezone.now()) == 4
    sent = Message.objects.get(pk=a.pk)
    assert sent.provider_id == sent.message_id_header and sent.attempts == 1
    events = {
        pk: list(Message.objects.get(pk=pk).events.values_list("state", flat=True)) for pk in states
    }
    assert events == {
        opted_out.pk: [State.SUPPRESSED],
        a.pk: [State.SENDING, State.SENT], b.pk: [State.SENDING, State.FAILED],
        c.pk: [State.SENDING, State.SENT], d.pk: [State.SENDING, State.SENT],
        e.pk: [State.HELD], f.pk: [State.HELD],
        urgent.pk: [State.SENDING, State.SENT],
    }  # fmt: skip
    assert dispatch.send_due_messages() == 0  # the held wait for their minute


def test_a_connection_lost_mid_batch_leaves_that_one_unknown_and_the_next_reopens(server, company):
    inbox = server(drop="b@example.net")
    a, b, c, d = (email_to(company, f"{n}@example.net") for n in "abcd")
    assert dispatch.send_due_messages() == 4
    states = dict(Message.objects.values_list("pk", "state"))
    assert states == {a.pk: State.SENT, b.pk: State.UNKNOWN, c.pk: State.SENT, d.pk: State.SENT}
    assert Message.objects.get(pk=b.pk).error.startswith("Unknown: SMTPServerDisconnected")
    peers = inbox.connections
    assert peers["a@example.net"] == peers["b@example.net"] != peers["c@example.net"]
    assert peers["c@example.net"] == peers["d@example.net"]
    assert sorted(to[0] for to, _ in inbox.messages) == [f"{n}@example.net" for n in "abcd"]
    assert dispatch.send_due_messages() == 0  # the unknown one waits for a person


def test_batches_take_their_size_and_the_statements_do_not_grow_with_it(settings, company):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    counts = []
    for n in (3, 12):  # one batch of n (and the look that finds nothing more)
        settings.MESSAGE_DISPATCH_BATCH = n
        batch = [email_to(company, f"batch{n}-{i}@example.net") for i in range(n)]
        with CaptureQueriesContext(connection) as queries:
            assert dispatch.send_due_messages() == n
        counts.append(len(queries))
        assert set(
            Message.objects.filter(pk__in=[m.pk for m in batch]).values_list("state", flat=True)
        ) == {State.SENT}
    assert counts[0] == counts[1], counts
    settings.MESSAGE_DISPATCH_BATCH = 4
    more = [email_to(company, f"more{i}@example.net") for i in range(10)]
    assert dispatch.send_due_messages(limit=8) == 8  # two batches, then the limit
    assert (
        list(Message.objects.filter(pk__in=[m.pk for m in more]).exclude(state=State.SENT))
        == more[8:]
    )
    assert dispatch.send_due_messages() == 2


def test_a_late_answer_in_a_batch_changes_only_what_the_table_allows(settings, company):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    first, second, third = (email_to(company, f"{n}@example.net") for n in "abc")
    taken = dispatch.take_batch(3).taken
    assert [m.pk for m in taken] == [first.pk, second.pk, third.pk]
    # The worker was slow: mark_lost_sendings made two of them unknown meanwhile.
    Message.objects.filter(pk__in=[second.pk, third.pk]).update(state=State.UNKNOWN)
    ended = dispatch._record(
        [
            dispatch._Answer(
                taken[0], State.SENT, {"provider_id": "p1", "sent_at": timezone.now()}
            ),
            dispatch._Answer(
                taken[1], State.SENT, {"provider_id": "p2", "sent_at": timezone.now()}
            ),
            dispatch._not_accepted(taken[2], "Not accepted: refused"),
        ]
    )
    assert ended == {first.pk: State.SENT, second.pk: State.SENT, third.pk: State.UNKNOWN}
    rows = {m.pk: m for m in Message.objects.all()}
    assert (rows[first.pk].state, rows[first.pk].provider_id) == (State.SENT, "p1")
    assert (rows[second.pk].state, rows[second.pk].provider_id) == (State.SENT, "p2")
    assert (rows[third.pk].state, rows[third.pk].rule) == (State.UNKNOWN, "")
    late = MessageEvent.objects.get(message=third, applied=False)
    assert late.state == State.HELD and "refused" in late.detail


def test_one_twilio_client_sends_the_whole_run(settings, company, monkeypatch):
    sid, token = "AC" + "3" * 32, "batch-token"
    made = []
    real = dispatch.twilio_client
    monkeypatch.setattr(dispatch, "twilio_client", lambda: made.append(1) or real())
    account = AccountFactory(company=company)
    numbers = [f"+1555555{n:04d}" for n in range(5)]
    for number in numbers:
        DebtorPhone.objects.create(debtor=account.debtor, number=number)
    with TwilioServer(sid, token) as twilio:
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = sid, token
        settings.TWILIO_FROM_NUMBER, settings.TWILIO_API_BASE = "+15005550006", twilio.url
        settings.TWILIO_STATUS_CALLBACK_URL = ""
        settings.MESSAGE_DISPATCH_BATCH = 2
        for i, number in enumerate(numbers):
            Message.objects.create(
                company=company, account=account, channel="voice" if i == 4 else "sms",
                to=number, text=f"Message {i}",
            )  # fmt: skip
        assert dispatch.send_due_messages() == 5
    assert made == [1]  # three batches, one client
    assert [r["kind"] for r in twilio.requests] == ["Messages"] * 4 + ["Calls"]
    sids = {r["sid"] for r in twilio.requests}
    assert set(Message.objects.values_list("provider_id", flat=True)) == sids
    assert set(Message.objects.values_list("state", flat=True)) == {State.SENT}


def test_against_a_slow_provider_answers_are_recorded_as_they_come(settings, company, monkeypatch):
    """Once a second has passed since the take (here: at once), each answer
    is recorded before the next message goes, and the rest of the batch is
    stamped as being sent now, so mark_lost_sendings leaves it alone."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monkeypatch.setattr(dispatch, "RECORD_EVERY_SECONDS", 0)
    messages = [email_to(company, f"{n}@example.net") for n in "abc"]
    seen = []
    send = dispatch._send

    def noting(message, providers):
        seen.append(dict(Message.objects.values_list("pk", "state")))
        seen.append(dict(Message.objects.values_list("pk", "state_changed_at")))
        return send(message, providers)

    monkeypatch.setattr(dispatch, "_send", noting)
    assert dispatch.send_due_messages() == 3
    a, b, c = (m.pk for m in messages)
    states = seen[0::2]
    assert states == [
        {a: State.SENDING, b: State.SENDING, c: State.SENDING},
        {a: State.SENT, b: State.SENDING, c: State.SENDING},
        {a: State.SENT, b: State.SENT, c: State.SENDING},
    ]
    stamped = seen[1::2]
    assert stamped[0][c] < stamped[1][c] < stamped[2][c]  # renewed at each record
    assert stamped[1][b] > stamped[0][b]
    assert set(Message.objects.values_list("state", flat=True)) == {State.SENT}
    for message in Message.objects.all():
        assert list(message.events.values_list("state", flat=True)) == [State.SENDING, State.SENT]
