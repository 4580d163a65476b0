"""The loopback Twilio server as ``make run``'s working stand-in: with
``status_callbacks=True`` it reports each created Message "sent" then
"delivered" and each Call "completed" to its StatusCallback, signed with the
auth token, so a real dispatch ends delivered through the app's own status
webhook on a live server. Off by default: the other tests' server never
calls back."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from accounts.models import DebtorPhone
from collections_app.devservers.twilio import TwilioServer
from communications import dispatch
from communications.models import Message, MessageEvent, MessageState
from tests.factories import AccountFactory

SID, TOKEN = "AC" + "2" * 32, "callback-token"
NUMBER = "+15555550177"


@pytest.fixture
def account(transactional_db, company):
    account = AccountFactory(company=company)
    DebtorPhone.objects.create(debtor=account.debtor, number=NUMBER, is_primary=True)
    return account


def point_at(settings, server, callback_url):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = SID, TOKEN
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.TWILIO_API_BASE = server.url
    settings.TWILIO_STATUS_CALLBACK_URL = callback_url


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def queue(account, channel="sms") -> Message:
    return Message.objects.create(
        company=account.company,
        account=account,
        channel=channel,
        to=NUMBER,
        text="Acme: please call us. Reply STOP to opt out.",
    )


def test_a_dispatched_sms_and_call_end_delivered_through_the_status_webhook(
    settings, live_server, account
):
    callback = live_server.url + reverse("twilio-status")
    with TwilioServer(SID, TOKEN, status_callbacks=True, callback_delay=0.5) as twilio:
        point_at(settings, twilio, callback)
        sms, call = queue(account), queue(account, channel="voice")
        assert dispatch.send_message(sms.pk) == MessageState.SENT
        assert dispatch.send_message(call.pk) == MessageState.SENT
        wait_for(lambda: len(twilio.callbacks) == 3)

    sms.refresh_from_db()
    call.refresh_from_db()
    assert (sms.state, call.state) == (MessageState.DELIVERED, MessageState.DELIVERED)
    # Every callback was signed as Twilio signs: the webhook took each one.
    assert {c["answer"] for c in twilio.callbacks} == {204}
    assert sorted(c.get("MessageStatus") or c["CallStatus"] for c in twilio.callbacks) == [
        "completed", "delivered", "sent",
    ]  # fmt: skip
    assert {c["url"] for c in twilio.callbacks} == {callback}
    # "sent" comes after the send's own answer made it sent: kept, not applied.
    events = list(
        MessageEvent.objects.filter(message=sms, detail__startswith="Twilio").values_list(
            "detail", "applied"
        )
    )
    assert events == [("Twilio: sent", False), ("Twilio: delivered", True)]


def test_callbacks_signed_with_another_token_change_nothing(settings, live_server, account):
    callback = live_server.url + reverse("twilio-status")
    with TwilioServer(SID, TOKEN, status_callbacks=True, callback_delay=0.5) as twilio:
        point_at(settings, twilio, callback)
        sms = queue(account)
        assert dispatch.send_message(sms.pk) == MessageState.SENT
        settings.TWILIO_AUTH_TOKEN = "the-apps-real-token"  # the stand-in signs with its own
        wait_for(lambda: len(twilio.callbacks) == 2)
    assert {c["answer"] for c in twilio.callbacks} == {403}
    sms.refresh_from_db()
    assert sms.state == MessageState.SENT


def test_without_the_flag_or_without_a_status_callback_nothing_calls_back(
    settings, live_server, account
):
    callback = live_server.url + reverse("twilio-status")
    with TwilioServer(SID, TOKEN, callback_delay=0.01) as quiet:
        point_at(settings, quiet, callback)
        assert dispatch.send_message(queue(account).pk) == MessageState.SENT
        assert quiet.requests[0]["StatusCallback"] == callback
        time.sleep(0.3)
        assert quiet.callbacks == []
    with TwilioServer(SID, TOKEN, status_callbacks=True, callback_delay=0.01) as twilio:
        point_at(settings, twilio, "")
        assert dispatch.send_message(queue(account).pk) == MessageState.SENT
        assert "StatusCallback" not in twilio.requests[0]
        time.sleep(0.3)
        assert twilio.callbacks == []
