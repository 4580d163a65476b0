"""Inbound STOP, START and HELP (47 CFR 64.1200(a)(10)): any reasonable
revocation in a signed incoming SMS opts the number out at once and
suppresses every text still waiting for it before the next dispatch tick,
with one confirmation; START opts it back in; HELP answers the company's
help text. A replayed MessageSid has no second effect and no second answer;
a forged signature gets 403 and changes nothing."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from accounts.models import DebtorPhone
from bulkops.models import AuditEvent
from collections_app.devservers.twilio import TwilioServer
from communications import dispatch, inbound, keywords
from communications.models import (
    ContactPolicy,
    InboundMessage,
    Message,
    MessageEvent,
    MessageState,
)
from tests.factories import (
    AccountFactory,
    CompanyFactory,
    DebtorEmailFactory,
    DebtorFactory,
    DebtorPhoneFactory,
)

pytestmark = pytest.mark.django_db

State = MessageState
SID, TOKEN = "AC" + "1" * 32, "secret-token"
URL = "http://testserver/communications/twilio/inbound/"
DEBTOR, OTHER, OURS = "+15555550123", "+15555550188", "+15005550006"
DEFAULT_HELP = ContactPolicy._meta.get_field("help_text").get_default()
EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response />'


def twiml(text: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{text}</Message></Response>'
    ).encode()


def opted_out_answer(name: str) -> bytes:
    return twiml(
        f"You are opted out of texts from {name}. No more messages will be sent. "
        "Reply START to opt back in."
    )


# --- the keywords --------------------------------------------------------------------------

STOPS = [
    # The keywords, in any case and with punctuation.
    "STOP", "stop", "Stop.", "STOP!!!", "sToP", " stop \n", "STOPALL", "stop all", "Stop All!",
    "UNSUBSCRIBE", "Unsubscribe.", "unsubscribe me please", "CANCEL", "Cancel!", "END", "End.",
    "QUIT", "quit", "REVOKE", "Revoke.", "OPT OUT", "opt-out", "Opt out please", "OPTOUT",
    "ＳＴＯＰ", "🛑 STOP", "S T O P", "stop stop stop", "STOP please", "Please stop", "pls stop!!",
    "ok stop", "stop it", "Stop it stop it", "HELP STOP", "Stop now", "cease and desist",
    # Phrases that clearly revoke consent.
    "stop texting me!!", "Stop texting me", "stop txting me", "Stop messaging me",
    "Please stop sending me these", "stop sending", "Stop contacting me, I have a lawyer",
    "stop calling me", "Can you please stop texting this number? I will pay when I can",
    "Don't text me", "don’t text me", "DO NOT TEXT ME", "do not text me again",
    "never text me again", "Don't contact me", "quit texting me", "Remove me",
    "please remove me", "remove me from your list", "Remove my number from your system",
    "Take me off your list", "take me off your texting list", "Take my number off your list",
    "take me off", "No more texts", "no more messages please", "no texts please",
    "Leave me alone", "leave me alone!!!", "Wrong number", "wrong person", "delete my number",
    "I revoke my consent", "I revoke consent to be contacted", "I withdraw my consent",
    "cancel my subscription", "Unsubcribe",
    # A keyword as its own sentence of a longer message.
    "Stop. I will pay friday", "ok, cancel", "STOP!!! I already paid", "Yes. Stop.",
    # The templates' other locales.
    "ALTO", "Para", "basta!", "No más mensajes", "Arrêt", "cancelar",
]  # fmt: skip
NOT_STOPS = [
    "I can't stop by today, will pay friday", "can't stop by today", "I cant stop by today",
    "Will pay at the end of the month", "Can I cancel my payment plan?",
    "Please call me tomorrow", "Send me the payoff amount", "Can I stop by the office?",
    "When does it end?", "I want to quit my job", "Text me the balance", "Who is this?",
    "Remove me from autopay", "Can you remove the late fee", "Yes I will pay", "ok", "Thanks",
    "I'm at the end of my rope, stop by later", "Don't stop texting me reminders",
    "I can't stop texting you", "No message received", "I'll call you back", "", "   ", "?!",
    "Is $50 enough for now?", "Don't send the letter to my old address",
    "Para cuando es el pago?", "The end is near but I will pay", "Stop payment on my check",
    "START", "help",
    # Over MAX_WORDS words: only a keyword as the whole message counts.
    "I have been trying to reach your office for weeks about this account and nobody calls "
    "back, I lost my job in March and my hours were cut, so I would like a payment plan. "
    "My wife says to stop texting me but I would rather you keep me updated on my balance "
    "by text.",
]  # fmt: skip


@pytest.mark.parametrize("body", STOPS)
def test_a_reasonable_revocation_is_a_stop(body):
    assert keywords.classify(body) == keywords.STOP


@pytest.mark.parametrize("body", NOT_STOPS)
def test_an_ordinary_message_is_not_a_stop(body):
    assert keywords.classify(body) != keywords.STOP


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("START", "start"), ("start", "start"), ("Start.", "start"), ("UNSTOP", "start"),
        ("unstop!", "start"), ("YES", "start"), ("yes", "start"), ("Yes!", "start"),
        ("start please", "start"), ("Yes, start", "start"),
        ("HELP", "help"), ("help", "help"), ("Help!", "help"), ("Help me", "help"),
        ("INFO", "help"), ("info?", "help"), ("AYUDA", "help"),
        # START needs to be what the message says; YES only alone.
        ("yes please", None), ("Yes I will pay", None), ("I will start paying next week", None),
        ("Starting payments soon", None), ("I need help paying", None), ("more info on my bill",
        None), ("yes stop", "stop"),
    ],
)  # fmt: skip
def test_start_and_help_are_read_only_when_they_are_the_message(body, keyword):
    assert keywords.classify(body) == keyword


def test_the_normal_form_folds_case_quotes_accents_and_punctuation():
    assert keywords.normalise("  Don’t   TEXT\tme!!! ") == "dont text me"
    assert keywords.normalise("Opt-Out.") == "opt out"
    assert keywords.normalise("NO MÁS") == "no mas"
    assert keywords.normalise("ＳＴＯＰ") == "stop"


def test_a_message_at_the_length_cap_is_still_read():
    filler = " ".join(["word"] * (keywords.MAX_WORDS - 3))
    assert keywords.classify(f"{filler} stop texting me") == keywords.STOP
    assert keywords.classify(f"{filler} more stop texting me") is None


@pytest.mark.parametrize(
    ("number", "forms"),
    [
        ("+15555550123", ["+15555550123"]),
        ("(555) 555-0123", ["(555) 555-0123", "+15555550123"]),
        ("15555550123", ["15555550123", "+15555550123"]),
        (" +1 555 555 0123 ", ["+1 555 555 0123", "+15555550123"]),
        ("not a number", ["not a number"]),
        ("", []),
    ],
)
def test_a_senders_number_is_also_read_in_e164(number, forms):
    assert inbound.number_forms(number) == forms


# --- the webhook ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    """The account's credentials: what the webhook checks signatures with."""
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = SID, TOKEN
    settings.TWILIO_FROM_NUMBER = OURS


@pytest.fixture
def twilio(settings):
    """Twilio's API on loopback, for the dispatch."""
    with TwilioServer(SID, TOKEN) as server:
        settings.TWILIO_API_BASE = server.url
        settings.TWILIO_STATUS_CALLBACK_URL = ""
        yield server


def incoming(body="STOP", *, sid="SM" + "a" * 32, from_=DEBTOR) -> dict:
    """The fields Twilio posts for an incoming message."""
    return {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
        "FromZip": "", "SmsSid": sid, "FromState": "CA", "SmsStatus": "received", "Body": body,
        "FromCountry": "US", "To": OURS, "NumSegments": "1", "MessageSid": sid,
        "AccountSid": SID, "From": from_, "ApiVersion": "2010-04-01",
    }  # fmt: skip


def post(client, body="STOP", *, sid="SM" + "a" * 32, from_=DEBTOR, token=TOKEN, signature=None):
    """POST an incoming message to the webhook, signed as Twilio signs it."""
    fields = incoming(body, sid=sid, from_=from_)
    if signature is None:
        signature = RequestValidator(token).compute_signature(URL, fields)
    return client.post(reverse("twilio-inbound"), fields, HTTP_X_TWILIO_SIGNATURE=signature)


def message(account, *, to=DEBTOR, channel="sms", state=State.QUEUED, **fields) -> Message:
    return Message.objects.create(
        company=account.company,
        account=account,
        channel=channel,
        to=to,
        text="Acme: please call us. Reply STOP to opt out.",
        state=state,
        **fields,
    )


@pytest.fixture
def debtor_account(company):
    """An account of ``company`` whose debtor has the mobile ``DEBTOR`` and an
    email address, and was texted ten minutes ago (what a reply answers)."""
    account = AccountFactory(company=company)
    DebtorPhoneFactory(debtor=account.debtor, number=DEBTOR)
    DebtorEmailFactory(debtor=account.debtor, address="zoe@example.net")
    message(
        account,
        state=State.DELIVERED,
        sent_at=timezone.now() - dt.timedelta(minutes=10),
        provider_id="SM" + "0" * 32,
    )
    return account


@pytest.fixture
def other_account(company):
    """Another debtor of the same company, at ``OTHER``."""
    account = AccountFactory(company=company)
    DebtorPhoneFactory(debtor=account.debtor, number=OTHER)
    return account


def phone(number=DEBTOR) -> DebtorPhone:
    return DebtorPhone.objects.get(number=number)


def snapshot() -> dict:
    """Everything a reply may change."""
    return {
        "phones": list(DebtorPhone.objects.order_by("pk").values()),
        "messages": list(Message.objects.order_by("pk").values("pk", "state", "rule", "reason")),
        "events": MessageEvent.objects.count(),
        "audit": AuditEvent.objects.count(),
        "inbound": InboundMessage.objects.count(),
    }


def test_stop_suppresses_what_waits_for_the_number_and_the_dispatch_sends_it_nothing(
    client, twilio, company, debtor_account, other_account
):
    now = timezone.now()
    queued = message(debtor_account)
    held_due = message(debtor_account, state=State.HELD, rule="rate_limit", send_after=now)
    held_later = message(
        debtor_account, state=State.HELD, rule="time_of_day", send_after=now + dt.timedelta(hours=3)
    )
    sending = message(debtor_account, state=State.SENDING)  # a worker has it: not ours to change
    to_other = message(other_account, to=OTHER)
    email = message(debtor_account, channel="email", to="zoe@example.net")
    before = timezone.now()

    response = post(client, "STOP")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content == opted_out_answer("Acme Recovery")
    for suppressed in (queued, held_due, held_later):
        suppressed.refresh_from_db()
        assert (suppressed.state, suppressed.rule, suppressed.reason) == (
            State.SUPPRESSED, "opt_out", "The debtor replied STOP.",
        )  # fmt: skip
        assert suppressed.events.get().detail == "The debtor replied STOP."
    untouched = ((sending, State.SENDING), (to_other, State.QUEUED), (email, State.QUEUED))
    for untouched_message, state in untouched:
        untouched_message.refresh_from_db()
        assert untouched_message.state == state and not untouched_message.events.exists()

    # The opt-out is recorded with its moment and its source; audited.
    opted_out = phone()
    assert opted_out.sms_opted_out and opted_out.sms_opt_out_source == "Reply STOP"
    assert before <= opted_out.sms_opted_out_at <= timezone.now()
    assert not opted_out.voice_opted_out  # a text's STOP is about texts
    assert not phone(OTHER).sms_opted_out
    event = AuditEvent.objects.get(action="debtor_phone.sms_opted_out")
    assert (event.object_type, event.object_id, event.company_id, event.actor_id) == (
        "accounts.debtorphone", opted_out.pk, company.pk, None,
    )  # fmt: skip
    assert event.changes["sms_opted_out"] == [False, True]
    assert event.changes["sms_opt_out_source"] == ["", "Reply STOP"]
    [reply] = InboundMessage.objects.all()
    answered = AuditEvent.objects.get(action="inbound_sms.stop")
    assert (answered.object_id, answered.company_id) == (reply.pk, company.pk)
    assert answered.changes["messages_suppressed"] == [0, 3]
    assert answered.changes["answer"][1].startswith("You are opted out of texts from Acme")

    # A text queued after the STOP is stopped by the gate; the dispatch sends
    # the number nothing and the other debtor their text.
    late = message(debtor_account)
    dispatch.send_due_messages()
    assert [r["To"] for r in twilio.requests if r["kind"] == "Messages"] == [OTHER]
    late.refresh_from_db()
    assert (late.state, late.rule) == (State.SUPPRESSED, "opt_out")
    to_other.refresh_from_db()
    assert to_other.state == State.SENT


def test_a_replayed_stop_has_no_second_effect_and_no_second_confirmation(
    client, company, debtor_account
):
    assert post(client, "STOP").content == opted_out_answer("Acme Recovery")
    first = phone().sms_opted_out_at
    waiting = message(debtor_account)  # the gate's to stop now; the replay changes nothing
    before = snapshot()

    replayed = post(client, "STOP")
    assert (replayed.status_code, replayed.content) == (200, EMPTY)
    assert snapshot() == before

    # Another STOP (a new MessageSid) is answered again and suppresses what
    # waits; the number keeps its first opt-out date.
    again = post(client, "stop", sid="SM" + "b" * 32)
    assert again.content == opted_out_answer("Acme Recovery")
    assert phone().sms_opted_out_at == first
    waiting.refresh_from_db()
    assert waiting.state == State.SUPPRESSED
    assert AuditEvent.objects.filter(action="debtor_phone.sms_opted_out").count() == 1
    assert AuditEvent.objects.filter(action="inbound_sms.stop").count() == 2


@pytest.mark.parametrize("how", ["missing", "forged", "other token", "tampered body", "other url"])
def test_a_forged_stop_is_403_and_changes_nothing(client, debtor_account, how):
    waiting = message(debtor_account)
    before = snapshot()
    fields = incoming("STOP")
    if how == "missing":
        response = client.post(reverse("twilio-inbound"), fields)
    elif how == "forged":
        response = post(client, signature="bm90IGEgc2lnbmF0dXJl")
    elif how == "other token":
        response = post(client, token="someone-elses")
    elif how == "tampered body":  # signed as "Hello", sent as "STOP"
        signature = RequestValidator(TOKEN).compute_signature(URL, incoming("Hello"))
        response = post(client, signature=signature)
    else:  # signed for the status callback's URL
        signature = RequestValidator(TOKEN).compute_signature(
            "http://testserver/communications/twilio/status/", fields
        )
        response = post(client, signature=signature)
    assert response.status_code == 403
    assert snapshot() == before
    waiting.refresh_from_db()
    assert waiting.state == State.QUEUED


@pytest.mark.parametrize("body", ["stop texting me!!", "Unsubscribe.", "Leave me alone", "End"])
def test_a_revocation_in_other_words_counts(client, debtor_account, body):
    waiting = message(debtor_account)
    assert post(client, body).content == opted_out_answer("Acme Recovery")
    assert phone().sms_opted_out
    waiting.refresh_from_db()
    assert waiting.state == State.SUPPRESSED


@pytest.mark.parametrize("body", ["I can't stop by today, will pay friday", "Who is this?"])
def test_an_ordinary_reply_is_only_stored(client, debtor_account, body):
    waiting = message(debtor_account)
    before = snapshot()
    response = post(client, body)
    assert (response.status_code, response.content) == (200, EMPTY)
    assert InboundMessage.objects.get().body == body
    after = snapshot()
    assert {**after, "inbound": 0} == {**before, "inbound": 0}
    waiting.refresh_from_db()
    assert waiting.state == State.QUEUED


def test_start_opts_the_number_back_in(client, twilio, company, debtor_account):
    post(client, "STOP")
    before = timezone.now()

    response = post(client, "Start", sid="SM" + "b" * 32)

    assert response.content == twiml(
        "You are opted back in to texts from Acme Recovery. Reply STOP to opt out, HELP for help."
    )
    number = phone()
    assert not number.sms_opted_out and number.sms_consent
    assert number.sms_consent_source == "Reply START"
    assert before <= number.sms_consent_at <= timezone.now()
    event = AuditEvent.objects.get(action="debtor_phone.sms_opted_in")
    assert event.changes["sms_opted_out"] == [True, False]
    assert event.company_id == company.pk
    # A text queued now goes.
    message(debtor_account)
    assert dispatch.send_due_messages() == 1
    assert [r["To"] for r in twilio.requests] == [DEBTOR]


def test_start_gives_consent_where_there_was_none_and_leaves_consented_numbers_alone(
    client, debtor_account
):
    DebtorPhone.objects.filter(number=DEBTOR).update(sms_consent=False)
    consented = DebtorPhoneFactory(
        number=DEBTOR, sms_consent_at=timezone.now() - dt.timedelta(days=30),
        sms_consent_source="Signed application",
    )  # fmt: skip
    post(client, "UNSTOP")
    refused = DebtorPhone.objects.get(debtor=debtor_account.debtor)
    assert (refused.sms_consent, refused.sms_consent_source) == (True, "Reply START")
    consented_before = consented.sms_consent_at
    consented.refresh_from_db()
    assert (consented.sms_consent_at, consented.sms_consent_source) == (
        consented_before, "Signed application",
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="debtor_phone.sms_opted_in").count() == 1


def test_help_answers_the_companys_help_text_and_changes_nothing(client, company, debtor_account):
    ContactPolicy.objects.create(
        company=company, help_text="Acme Recovery: call 800-555-0100, 9-5. Reply STOP to opt out."
    )
    ContactPolicy.objects.create(company=CompanyFactory(), help_text="Somebody else's help.")
    waiting = message(debtor_account)
    before = snapshot()

    response = post(client, "HELP")

    assert response.content == twiml(
        "Acme Recovery: call 800-555-0100, 9-5. Reply STOP to opt out."
    )
    after = snapshot()
    assert after["phones"] == before["phones"] and after["messages"] == before["messages"]
    waiting.refresh_from_db()
    assert waiting.state == State.QUEUED
    answered = AuditEvent.objects.get(action="inbound_sms.help")
    assert answered.changes["answer"] == [None, "Acme Recovery: call 800-555-0100, 9-5. Reply "
                                          "STOP to opt out."]  # fmt: skip


def test_help_without_a_policy_or_a_company_answers_the_default(client, debtor_account):
    assert post(client, "help").content == twiml(DEFAULT_HELP)
    # A number no company texted: no company to speak for.
    unknown = post(client, "INFO", sid="SM" + "b" * 32, from_="+15555550999")
    assert unknown.content == twiml(DEFAULT_HELP)


def test_a_stop_from_a_number_nobody_texted_opts_it_out_anyway(client):
    debtor_phone = DebtorPhoneFactory(number="+15555550999")
    AccountFactory(debtor=debtor_phone.debtor)
    response = post(client, "STOP", from_="+15555550999")
    assert response.content == opted_out_answer("this number")
    assert phone("+15555550999").sms_opted_out


def test_every_debtor_with_the_number_is_opted_out_in_their_own_companys_log(
    client, company, debtor_account
):
    """A revocation is about the phone: another debtor (of another company)
    with the same number is opted out too, and their company sees it."""
    other_company = CompanyFactory(name="Harbor Credit Union")
    relative = AccountFactory(company=other_company)
    DebtorPhoneFactory(debtor=relative.debtor, number=DEBTOR, phone_type="home")
    theirs = message(relative)
    already = DebtorPhoneFactory(
        number=DEBTOR, sms_opted_out=True, sms_opt_out_source="Letter",
        sms_opted_out_at=timezone.now() - dt.timedelta(days=3),
    )  # fmt: skip
    already_at = already.sms_opted_out_at

    post(client, "STOP")

    assert DebtorPhone.objects.filter(number=DEBTOR, sms_opted_out=False).count() == 0
    already.refresh_from_db()
    assert (already.sms_opted_out_at, already.sms_opt_out_source) == (already_at, "Letter")
    theirs.refresh_from_db()
    assert theirs.state == State.SUPPRESSED
    companies = dict(
        AuditEvent.objects.filter(action="debtor_phone.sms_opted_out").values_list(
            "object_id", "company_id"
        )
    )
    assert companies == {
        phone_row.pk: account.company_id
        for account in (debtor_account, relative)
        for phone_row in DebtorPhone.objects.filter(debtor=account.debtor)
    }


def test_a_sender_in_another_form_finds_the_e164_number(client, debtor_account):
    waiting = message(debtor_account)
    post(client, "STOP", from_="(555) 555-0123")
    assert phone().sms_opted_out
    waiting.refresh_from_db()
    assert waiting.state == State.SUPPRESSED


def test_the_suppression_is_set_based(company):
    """As many statements for forty waiting texts as for two."""

    def queries_for(number: str, waiting: int, sid: str) -> int:
        account = AccountFactory(company=company, debtor=DebtorFactory())
        DebtorPhoneFactory(debtor=account.debtor, number=number)
        for _ in range(waiting):
            message(account, to=number)
        with CaptureQueriesContext(connection) as queries:
            received = inbound.handle_incoming_sms(
                provider_id=sid, from_number=number, to_number=OURS, body="STOP"
            )
        assert received.reply.suppressed == waiting
        return len(queries)

    assert queries_for("+15555550101", 2, "SM1") == queries_for("+15555550102", 40, "SM2")


@pytest.mark.django_db(transaction=True)
def test_a_text_a_worker_has_taken_is_not_overwritten():
    """A dispatch worker holds a text in its take transaction (locked, made
    ``sending``) when the STOP comes: the STOP waits for the lock, then
    leaves the text sending (the worker's) and suppresses the other."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    account = AccountFactory(company=CompanyFactory(name="Acme Recovery"))
    DebtorPhoneFactory(debtor=account.debtor, number=DEBTOR)
    taken, other = message(account), message(account)
    locked, errors = threading.Event(), []

    def worker():
        try:
            with transaction.atomic():
                Message.objects.select_for_update().filter(pk=taken.pk).get()
                locked.set()
                time.sleep(0.5)
                Message.objects.filter(pk=taken.pk).update(state=State.SENDING)
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
            locked.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    assert locked.wait(5)
    started = time.monotonic()
    received = inbound.handle_incoming_sms(
        provider_id="SM" + "c" * 32, from_number=DEBTOR, to_number=OURS, body="STOP"
    )
    waited = time.monotonic() - started
    thread.join(5)
    assert not errors
    assert waited >= 0.3  # it waited for the worker's lock
    assert received.reply.suppressed == 1
    taken.refresh_from_db()
    other.refresh_from_db()
    assert (taken.state, other.state) == (State.SENDING, State.SUPPRESSED)
    assert not taken.events.exists()
