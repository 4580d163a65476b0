"""Call Now through Twilio's client against the loopback server that speaks
its API: the collector's phone is called and bridged to the debtor's
number; the contact rules refuse what they forbid (recorded, nothing sent);
placed calls count toward the call frequency and show in the Diary."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.diary import DiaryFilters, diary_page
from accounts.roles import COLLECTOR
from communications import calls
from communications.models import Channel, Message, MessageState
from tests.factories import AccountFactory, DebtorPhoneFactory, UserFactory

pytestmark = pytest.mark.django_db

MINE = "+15555550999"


@pytest.fixture
def account(company):
    account = AccountFactory(company=company)
    DebtorPhoneFactory(debtor=account.debtor, number="+15555550123")
    return account


def phone_of(account):
    return account.debtor.phones.get().pk


def test_the_collector_is_called_and_bridged_to_the_debtor(twilio_loopback, collector, account):
    call = calls.call_now(
        actor=collector, account=account, phone_id=phone_of(account), collector_number=MINE
    )
    [request] = twilio_loopback.requests
    assert request["kind"] == "Calls" and request["To"] == MINE
    assert "<Dial" in request["Twiml"] and "<Number>+15555550123</Number>" in request["Twiml"]
    call.refresh_from_db()
    assert (call.channel, call.state, call.to) == (Channel.VOICE, MessageState.SENT, "+15555550123")
    assert call.provider_id == request["sid"] and call.sent_at is not None
    events = [
        e["key"]
        for d in diary_page(collector, account, DiaryFilters(), 1)["days"]
        for e in d.events
    ]
    assert "message" in events


def test_an_opt_out_refuses_the_call_and_records_it(twilio_loopback, collector, account):
    account.debtor.phones.update(voice_opted_out=True)
    with pytest.raises(calls.CallRefused) as refused:
        calls.call_now(
            actor=collector, account=account, phone_id=phone_of(account), collector_number=MINE
        )
    assert twilio_loopback.requests == []
    call = Message.objects.get()
    assert (
        call.state == MessageState.SUPPRESSED and call.rule and refused.value.reason == call.reason
    )


def test_placed_calls_count_toward_the_call_frequency(twilio_loopback, collector, account):
    earlier = timezone.now() - dt.timedelta(days=1)
    Message.objects.bulk_create(
        Message(
            company=account.company,
            account=account,
            channel=Channel.VOICE,
            to="+15555550123",
            state=MessageState.SENT,
            sent_at=earlier - dt.timedelta(hours=n),
        )
        for n in range(7)
    )
    with pytest.raises(calls.CallRefused):
        calls.call_now(
            actor=collector, account=account, phone_id=phone_of(account), collector_number=MINE
        )
    assert Message.objects.get(state=MessageState.SUPPRESSED).rule == "call_frequency"
    assert twilio_loopback.requests == []


def test_bad_input_places_no_call(twilio_loopback, collector, account, other_company):
    elsewhere = DebtorPhoneFactory()
    with pytest.raises(ValidationError):
        calls.call_now(
            actor=collector, account=account, phone_id=elsewhere.pk, collector_number=MINE
        )
    with pytest.raises(ValidationError):
        calls.call_now(
            actor=collector, account=account, phone_id=phone_of(account), collector_number="555"
        )
    theirs = AccountFactory(company=other_company)
    with pytest.raises(PermissionDenied):
        calls.call_now(
            actor=collector, account=theirs, phone_id=elsewhere.pk, collector_number=MINE
        )
    assert twilio_loopback.requests == [] and not Message.objects.exists()


def test_the_page_places_the_call(client, twilio_loopback, collector, account):
    client.force_login(collector)
    page = client.get(reverse("accounts:detail", args=[account.pk])).content.decode()
    assert "Call Now" in page
    response = client.post(
        reverse("messages:call-now", args=[account.pk]),
        {"phone": phone_of(account), "your_number": MINE},
        follow=True,
    )
    assert "Calling your phone now" in response.content.decode()
    assert len(twilio_loopback.requests) == 1


def test_another_company_s_call_page_is_not_found(client, other_company, account):
    stranger = UserFactory(company=other_company, role=COLLECTOR)
    client.force_login(stranger)
    assert client.get(reverse("messages:call-now", args=[account.pk])).status_code == 404
