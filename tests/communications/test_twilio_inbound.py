"""Incoming SMS through Twilio's webhook (``/communications/twilio/inbound/``):
signed with Twilio's RequestValidator like the status callbacks (forged or
missing: 403, nothing stored), stored once per MessageSid (Twilio retries),
matched to the latest SMS sent to the sender's number; an ordinary message
is answered with an empty TwiML document (STOP, START and HELP:
test_stop_replies.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from communications.models import InboundMessage, Message, MessageState
from tests.factories import AccountFactory, CompanyFactory

pytestmark = pytest.mark.django_db

SID, TOKEN = "AC" + "1" * 32, "secret-token"
URL = "http://testserver/communications/twilio/inbound/"
DEBTOR, OURS = "+15555550123", "+15005550006"


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = SID, TOKEN
    settings.TWILIO_FROM_NUMBER = OURS


def incoming(sid="SM" + "a" * 32, body="STOP", from_=DEBTOR) -> dict:
    """The fields Twilio posts for an incoming message."""
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "US",
        "To": OURS,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": SID,
        "From": from_,
        "ApiVersion": "2010-04-01",
    }


def signed_post(client, fields, *, token=TOKEN, signature=None, url=URL):
    if signature is None:
        signature = RequestValidator(token).compute_signature(url, fields)
    return client.post(reverse("twilio-inbound"), fields, HTTP_X_TWILIO_SIGNATURE=signature)


def sms(account, *, state=MessageState.SENT, sent_minutes_ago=10, to=DEBTOR) -> Message:
    sent_at = timezone.now() - dt.timedelta(minutes=sent_minutes_ago) if sent_minutes_ago else None
    return Message.objects.create(
        company=account.company,
        account=account,
        channel="sms",
        to=to,
        text="Harbor: please call us. Reply STOP to opt out.",
        state=state,
        provider_id=f"SM{account.pk}{sent_minutes_ago}",
        sent_at=sent_at,
    )


def test_a_signed_reply_is_stored_once_and_matched_to_the_latest_sms(client, company):
    account, later_account = AccountFactory(company=company), AccountFactory(company=company)
    sms(account, state=MessageState.DELIVERED, sent_minutes_ago=60)
    latest = sms(later_account, state=MessageState.DELIVERED, sent_minutes_ago=5)
    sms(account, state=MessageState.QUEUED, sent_minutes_ago=None)  # never sent: no match
    sms(account, to="+15555550999", sent_minutes_ago=1)  # another number

    response = signed_post(client, incoming(body="Is this about my car loan?"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content == b'<?xml version="1.0" encoding="UTF-8"?><Response />'
    [reply] = InboundMessage.objects.all()
    assert (reply.provider_id, reply.from_number, reply.to_number, reply.body) == (
        "SM" + "a" * 32, DEBTOR, OURS, "Is this about my car loan?",
    )  # fmt: skip
    assert (reply.company, reply.account, reply.in_reply_to) == (company, later_account, latest)

    # Twilio retries a webhook it did not see answered: stored once.
    assert signed_post(client, incoming(body="Is this about my car loan?")).status_code == 200
    assert InboundMessage.objects.count() == 1
    latest.refresh_from_db()
    assert latest.state == MessageState.DELIVERED


def test_a_reply_from_an_unknown_number_is_stored_unmatched(client, company):
    sms(AccountFactory(company=company), to="+15555550999")
    assert signed_post(client, incoming(body="Who is this?")).status_code == 200
    [reply] = InboundMessage.objects.all()
    assert (reply.company, reply.account, reply.in_reply_to) == (None, None, None)


def test_the_latest_sms_of_any_company_answers(client, company):
    other = CompanyFactory(name="Harbor Credit Union")
    sms(AccountFactory(company=company), sent_minutes_ago=30)
    theirs = sms(AccountFactory(company=other), state=MessageState.UNDELIVERED, sent_minutes_ago=2)
    assert signed_post(client, incoming()).status_code == 200
    [reply] = InboundMessage.objects.all()
    assert (reply.company, reply.in_reply_to) == (other, theirs)


@pytest.mark.parametrize("how", ["missing", "forged", "other token", "tampered body", "other url"])
def test_a_forged_reply_is_403_and_stores_nothing(client, company, how):
    sms(AccountFactory(company=company))
    fields = incoming()
    if how == "missing":
        response = client.post(reverse("twilio-inbound"), fields)
    elif how == "forged":
        response = signed_post(client, fields, signature="bm90IGEgc2lnbmF0dXJl")
    elif how == "other token":
        response = signed_post(client, fields, token="someone-elses")
    elif how == "tampered body":
        signature = RequestValidator(TOKEN).compute_signature(URL, {**fields, "Body": "START"})
        response = signed_post(client, fields, signature=signature)
    else:  # signed for the status callback's URL, replayed here
        response = signed_post(
            client, fields, url="http://testserver/communications/twilio/status/"
        )
    assert response.status_code == 403
    assert not InboundMessage.objects.exists()


def test_without_an_auth_token_nothing_is_accepted(client, settings):
    fields = incoming()
    signature = RequestValidator("").compute_signature(URL, fields)
    settings.TWILIO_AUTH_TOKEN = ""
    assert signed_post(client, fields, signature=signature).status_code == 403
    assert not InboundMessage.objects.exists()


def test_a_signed_post_without_a_message_sid_is_400(client):
    fields = {k: v for k, v in incoming().items() if k not in ("MessageSid", "SmsSid")}
    assert signed_post(client, fields).status_code == 400
    assert not InboundMessage.objects.exists()


def test_the_inbound_webhook_needs_no_login_but_only_post(client):
    assert client.get(reverse("twilio-inbound")).status_code == 405
    assert reverse("twilio-inbound") == "/communications/twilio/inbound/"
