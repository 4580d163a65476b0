"""Email dispatch through a real SMTP conversation (aiosmtpd on loopback):
a due message passes the gate, is sent once with its deterministic
Message-ID and becomes sent; the gate suppresses what may not be sent;
a server that cannot be reached puts the message on hold for a retry; a
message whose fate is unknown (the worker died while sending) is marked
unknown and never sent again by itself; final states never move back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import ContactPoint
from collections_app.devservers.smtp import free_port
from communications import dispatch, gate
from communications.models import Message, MessageEvent, MessageState
from tests.factories import AccountFactory, DebtorEmailFactory

pytestmark = pytest.mark.django_db

State = MessageState


@pytest.fixture
def recipient(company):
    account = AccountFactory(company=company)
    point = DebtorEmailFactory(debtor=account.debtor, address="zoe@example.net")
    return account, point


def queue(account, **fields) -> Message:
    values = {
        "company": account.company,
        "account": account,
        "channel": "email",
        "to": "zoe@example.net",
        "subject": "Your account",
        "text": "Dear Zoë, please call us.",
        "html": "<p>Dear Zoë, please call us.</p>",
    }
    return Message.objects.create(**(values | fields))


def test_a_due_email_is_sent_once_with_its_message_id(smtp, recipient):
    account, _ = recipient
    message = queue(account)
    assert dispatch.send_due_messages() == 1
    assert dispatch.send_due_messages() == 0  # nothing left to send
    message.refresh_from_db()
    assert message.state == State.SENT and message.sent_at is not None
    [(to, received)] = smtp.messages
    assert to == ["zoe@example.net"]
    assert received["Message-ID"] == message.message_id_header == message.provider_id
    assert received["Subject"] == "Your account"
    assert received.get_body(("html",)).get_content().strip() == "<p>Dear Zoë, please call us.</p>"
    assert received.get_body(("plain",)).get_content().strip() == "Dear Zoë, please call us."
    assert list(message.events.values_list("state", flat=True)) == [State.SENDING, State.SENT]


def test_a_message_not_yet_due_waits(smtp, recipient):
    account, _ = recipient
    queue(account, send_after=timezone.now() + dt.timedelta(hours=1))
    assert dispatch.send_due_messages() == 0
    assert smtp.messages == []


@pytest.mark.parametrize(
    ("change", "rule", "reason"),
    [
        ({"email_opted_out": True}, "opt_out", "The debtor opted out of Email."),
        ({"email_consent": False}, "consent", "No consent to Email at this email address."),
        ({"validity": ContactPoint.Validity.INVALID}, "contact_point", "marked invalid"),
        ({"address": "new@example.net"}, "contact_point", "no longer the debtor's"),
    ],
)
def test_the_gate_suppresses_what_may_not_be_sent(smtp, recipient, change, rule, reason):
    account, point = recipient
    for field, value in change.items():
        setattr(point, field, value)
    point.save()
    message = queue(account)
    dispatch.send_due_messages()
    message.refresh_from_db()
    assert (message.state, message.rule) == (State.SUPPRESSED, rule)
    assert reason in message.reason
    assert smtp.messages == []


def test_a_deferring_rule_holds_the_message_until_its_moment(smtp, recipient, monkeypatch):
    account, _ = recipient
    later = timezone.now() + dt.timedelta(hours=2)
    rules = list(gate._RULES)
    monkeypatch.setattr(gate, "_RULES", rules)
    gate.rule("test_window")(lambda m: gate.defer("test_window", "Outside hours", later))
    message = queue(account)
    dispatch.send_due_messages()
    message.refresh_from_db()
    assert (message.state, message.rule, message.send_after) == (State.HELD, "test_window", later)
    assert smtp.messages == []


def test_a_server_that_cannot_be_reached_holds_the_message_for_a_retry(settings, recipient):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    account, _ = recipient
    message = queue(account)
    assert dispatch.send_message(message.pk) == State.HELD
    message.refresh_from_db()
    assert message.rule == "provider" and message.attempts == 1
    assert message.send_after > timezone.now() + dt.timedelta(seconds=50)
    # Attempts run out: it fails rather than waiting for ever.
    Message.objects.filter(pk=message.pk).update(attempts=5, send_after=timezone.now())
    assert dispatch.send_message(message.pk) == State.FAILED


def test_an_error_of_unknown_outcome_is_never_resent(smtp, recipient, monkeypatch):
    account, _ = recipient
    message = queue(account)

    def lost_connection(self, *args, **kwargs):
        raise TimeoutError("timed out waiting for the reply to DATA")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", lost_connection)
    assert dispatch.send_message(message.pk) == State.UNKNOWN
    monkeypatch.undo()
    assert dispatch.send_due_messages() == 0
    assert smtp.messages == []


def test_a_worker_lost_while_sending_leaves_the_message_unknown(smtp, recipient, settings):
    account, _ = recipient
    message = queue(account)
    dispatch.take(message.pk)  # taken and committed; then the worker died
    assert dispatch.send_due_messages() == 0  # not sent again
    assert dispatch.mark_lost_sendings() == 0  # not yet too long ago
    Message.objects.filter(pk=message.pk).update(
        state_changed_at=timezone.now()
        - dt.timedelta(seconds=settings.MESSAGE_SENDING_TIMEOUT_SECONDS + 1)
    )
    assert dispatch.mark_lost_sendings() == 1
    message.refresh_from_db()
    assert message.state == State.UNKNOWN and "may have been sent" in message.error
    assert dispatch.send_due_messages() == 0
    assert smtp.messages == []


def test_a_slow_send_marked_unknown_meanwhile_keeps_the_late_answer(settings, recipient):
    """A worker slower than the timeout: its message was made unknown while
    it waited. A later "sent" settles it; a later "not accepted" cannot put
    it back on hold (it may have been sent): kept as an event, the run goes on."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    account, _ = recipient
    first, second = queue(account), queue(account)
    for message in (first, second):
        taken = dispatch.take(message.pk)
        Message.objects.filter(pk=message.pk).update(state=State.UNKNOWN)
        if message is first:
            assert dispatch._retry_or_fail(taken, "Not accepted: refused") == State.UNKNOWN
        else:
            assert dispatch._settle(taken, State.SENT, provider_id="x") == State.SENT
    first.refresh_from_db()
    assert first.state == State.UNKNOWN
    late = first.events.get(applied=False)
    assert late.state == State.HELD and "refused" in late.detail


@pytest.mark.parametrize(
    "final", [State.DELIVERED, State.FAILED, State.BOUNCED, State.SUPPRESSED, State.CANCELLED]
)
def test_a_final_state_never_moves_back(recipient, final):
    account, _ = recipient
    message = queue(account, state=final)
    for state in MessageState.values:
        assert not message.can_move_to(state)
        with pytest.raises(dispatch.TransitionRefused):
            dispatch.move(message, state)
    assert MessageEvent.objects.count() == 0
