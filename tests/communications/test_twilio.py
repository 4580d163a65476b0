"""SMS and voice through Twilio's own client against a loopback server that
speaks Twilio's API: sent once, refused numbers failed, an unreachable
server retried; status callbacks authenticated by Twilio's signature
(forged or missing: 403, nothing changes), arriving late or twice without
moving a message back from a final state."""

from __future__ import annotations

import socket

import pytest
from django.urls import reverse
from twilio.request_validator import RequestValidator

from collections_app.devservers.twilio import TwilioServer
from communications import dispatch
from communications.models import Message, MessageEvent, MessageState
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

State = MessageState
SID, TOKEN = "AC" + "1" * 32, "secret-token"
CALLBACK = "http://testserver/communications/twilio/status/"


@pytest.fixture
def twilio(settings):
    with TwilioServer(SID, TOKEN) as server:
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = SID, TOKEN
        settings.TWILIO_FROM_NUMBER = "+15005550006"
        settings.TWILIO_API_BASE = server.url
        settings.TWILIO_STATUS_CALLBACK_URL = CALLBACK
        yield server


@pytest.fixture
def account(company):
    from accounts.models import DebtorPhone

    account = AccountFactory(company=company)
    DebtorPhone.objects.create(debtor=account.debtor, number="+15555550123", is_primary=True)
    return account


def queue(account, channel="sms", text="Harbor: please call us. Reply STOP to opt out.") -> Message:
    return Message.objects.create(
        company=account.company, account=account, channel=channel, to="+15555550123", text=text
    )


def test_an_sms_and_a_call_are_sent_once_through_twilio(twilio, account):
    sms = queue(account)
    call = queue(account, channel="voice", text="Hello <Maria> & family.")
    assert dispatch.send_due_messages() == 2
    assert dispatch.send_due_messages() == 0
    sms.refresh_from_db()
    call.refresh_from_db()
    assert [r["kind"] for r in twilio.requests] == ["Messages", "Calls"]
    message_request, call_request = twilio.requests
    assert (sms.state, sms.provider_id) == (State.SENT, message_request["sid"])
    assert message_request["To"] == "+15555550123" and message_request["From"] == "+15005550006"
    assert message_request["Body"] == sms.text
    assert message_request["StatusCallback"] == CALLBACK
    assert (call.state, call.provider_id) == (State.SENT, call_request["sid"])
    assert (
        call_request["Twiml"] == "<Response><Say>Hello &lt;Maria&gt; &amp; family.</Say></Response>"
    )


def test_without_twilio_settings_sms_waits_queued(settings, account):
    settings.TWILIO_ACCOUNT_SID = ""
    message = queue(account)
    assert dispatch.send_due_messages() == 0
    message.refresh_from_db()
    assert message.state == State.QUEUED


def test_a_number_twilio_refuses_fails_with_its_error(twilio, account):
    twilio.refuse_with = (400, 21211, "The 'To' number is not a valid phone number.")
    message = queue(account)
    assert dispatch.send_message(message.pk) == State.FAILED
    message.refresh_from_db()
    assert (
        message.error.startswith("Refused: Twilio 400: ")
        and "not a valid phone number" in message.error
    )


def test_an_unreachable_twilio_holds_the_message_for_a_retry(settings, twilio, account):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.TWILIO_API_BASE = f"http://127.0.0.1:{s.getsockname()[1]}"  # nobody listens
    message = queue(account)
    assert dispatch.send_message(message.pk) == State.HELD
    assert twilio.requests == []


def signed_post(client, fields, *, token=TOKEN, signature=None):
    if signature is None:
        signature = RequestValidator(token).compute_signature(CALLBACK, fields)
    return client.post(reverse("twilio-status"), fields, HTTP_X_TWILIO_SIGNATURE=signature)


def sent_sms(twilio, account) -> Message:
    message = queue(account)
    dispatch.send_message(message.pk)
    message.refresh_from_db()
    return message


def test_a_signed_callback_moves_the_message_and_late_or_repeated_ones_do_not(
    client, twilio, account
):
    message = sent_sms(twilio, account)
    delivered = {"MessageSid": message.provider_id, "MessageStatus": "delivered"}
    assert signed_post(client, delivered).status_code == 204
    message.refresh_from_db()
    assert message.state == State.DELIVERED
    # Out of order ("sent" after "delivered") and twice: stored, not applied.
    assert signed_post(client, {**delivered, "MessageStatus": "sent"}).status_code == 204
    assert signed_post(client, delivered).status_code == 204
    message.refresh_from_db()
    assert message.state == State.DELIVERED
    events = list(MessageEvent.objects.filter(message=message).values_list("detail", "applied"))
    assert events[-3:] == [
        ("Twilio: delivered", True),
        ("Twilio: sent", False),
        ("Twilio: delivered", False),
    ]


def test_a_failure_callback_records_twilios_error(client, twilio, account):
    message = sent_sms(twilio, account)
    fields = {
        "MessageSid": message.provider_id,
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
    }
    assert signed_post(client, fields).status_code == 204
    message.refresh_from_db()
    assert (message.state, message.error) == (State.UNDELIVERED, "Twilio error 30003")


@pytest.mark.parametrize("how", ["missing", "forged", "other token", "tampered field"])
def test_a_forged_callback_is_403_and_changes_nothing(client, twilio, account, how):
    message = sent_sms(twilio, account)
    fields = {"MessageSid": message.provider_id, "MessageStatus": "failed"}
    if how == "missing":
        response = client.post(reverse("twilio-status"), fields)
    elif how == "forged":
        response = signed_post(client, fields, signature="bm90IGEgc2lnbmF0dXJl")
    elif how == "other token":
        response = signed_post(client, fields, token="someone-elses")
    else:
        signature = RequestValidator(TOKEN).compute_signature(
            CALLBACK, {**fields, "MessageStatus": "delivered"}
        )
        response = signed_post(client, fields, signature=signature)
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.state == State.SENT
    assert not MessageEvent.objects.filter(message=message, detail__startswith="Twilio").exists()


def test_a_callback_needs_no_login_but_only_post(client, twilio):
    assert client.get(reverse("twilio-status")).status_code == 405
    fields = {"MessageSid": "SMnotours", "MessageStatus": "delivered"}
    assert signed_post(client, fields).status_code == 204  # not ours: nothing to change
