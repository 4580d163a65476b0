"""The legal contact rules of the gate (``communications.contact_rules``),
each at a moment chosen for it: the 8:00 to 21:00 window in every zone the
debtor may be in, preferred hours, legal stops and do-not-contact, call
frequency (seven in seven days, a conversation, Massachusetts' two), the
company's weekly caps, and what Ignore Contact Preferences may and may not
relax. Then the dispatch: a deferred message is held until its moment and
a text carries the rest of the window as Twilio's validity period."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from accounts.models import DebtorEmail, DebtorPhone
from communications import dispatch, gate
from communications.contact_rules import allowed_window, candidate_zones
from communications.models import (
    ContactPolicy,
    ContactPreference,
    Conversation,
    LegalStop,
    Message,
    MessageState,
    StateCallLimit,
)
from tests.factories import AccountFactory, DebtorFactory, zone_at, zone_at_midday

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NEW_YORK, CHICAGO = ZoneInfo("America/New_York"), ZoneInfo("America/Chicago")
# December: New York is UTC-5, Chicago UTC-6.
DAY = dt.date(2026, 12, 2)
NY_NUMBER, CHICAGO_NUMBER, NO_AREA = "+12125550100", "+13125550100", "+15555550100"


def at(hour, minute=0, zone=NEW_YORK, day=DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), zone)


def debtor_account(company, *, postal_code="10001", state="NY", timezone="", number=NY_NUMBER):
    debtor = DebtorFactory(postal_code=postal_code, state=state, timezone=timezone)
    account = AccountFactory(company=company, debtor=debtor)
    if number:
        DebtorPhone.objects.create(debtor=debtor, number=number, is_primary=True)
    DebtorEmail.objects.create(debtor=debtor, address=f"d{debtor.pk}@example.net", is_primary=True)
    return account


def message(account, channel="sms", **fields) -> Message:
    to = (
        account.debtor.emails.get().address
        if channel == "email"
        else fields.pop("to", None) or account.debtor.phones.get(is_primary=True).number
    )
    return Message.objects.create(
        company=account.company,
        account=account,
        channel=channel,
        to=to,
        text="Please call us. Reply STOP to opt out.",
        **fields,
    )


def decide(*messages, now):
    loaded = list(
        Message.objects.select_related("account")
        .filter(pk__in=[m.pk for m in messages])
        .order_by("pk")
    )
    decisions = gate.check_many(loaded, now=now)
    return [decisions[m.pk] for m in messages]


# --- candidate zones and the window ------------------------------------------------------


def test_the_zones_come_from_the_zip_code_then_the_state_and_the_area_code():
    assert candidate_zones(debtor_zone="", postal_code="10001", state="TN", number="") == {
        "America/New_York"
    }
    assert candidate_zones(debtor_zone="", postal_code="", state="TN", number="") == {
        "America/New_York",
        "America/Chicago",
    }
    assert candidate_zones(
        debtor_zone="", postal_code="10001", state="NY", number=CHICAGO_NUMBER
    ) == {"America/New_York", "America/Chicago"}
    assert candidate_zones(debtor_zone="", postal_code="", state="", number=NO_AREA) == set()
    # The zone the debtor told the agency is known: it alone counts.
    assert candidate_zones(
        debtor_zone="America/Phoenix", postal_code="10001", state="NY", number=CHICAGO_NUMBER
    ) == {"America/Phoenix"}


def test_a_moment_is_allowed_only_when_it_is_in_every_zone():
    zones = frozenset({"America/New_York", "America/Chicago"})
    # 8:30 in New York is 7:30 in Chicago: wait for 8:00 in Chicago.
    first, closes = allowed_window(zones, dt.time(8), dt.time(21), at(8, 30))
    assert first == at(8, zone=CHICAGO)
    # and it must be over by 21:00 in New York, the first to close.
    assert closes == at(21)
    # 21:30 in New York (20:30 in Chicago): the next morning in Chicago.
    first, closes = allowed_window(zones, dt.time(8), dt.time(21), at(21, 30))
    assert first == at(8, zone=CHICAGO, day=DAY + dt.timedelta(days=1))


# --- the time of day -----------------------------------------------------------------------


def test_830_in_new_york_is_730_in_chicago_so_a_text_waits(company):
    account = debtor_account(company, number=CHICAGO_NUMBER)  # a New York ZIP, a Chicago phone
    text = message(account)
    [decision] = decide(text, now=at(8, 30))
    assert decision.action == gate.DEFER and decision.rule == "time_of_day"
    assert decision.until == at(8, zone=CHICAGO)
    assert "America/Chicago" in decision.reason and "America/New_York" in decision.reason
    # The same moment for a debtor with only New York: sent, until 21:00 there.
    only_new_york = message(debtor_account(company, number=NY_NUMBER))
    [decision] = decide(only_new_york, now=at(8, 30))
    assert (decision.action, decision.until) == (gate.SEND, at(21))


def test_an_email_takes_the_zone_of_the_address_and_of_the_primary_phone(company):
    email = message(debtor_account(company, number=CHICAGO_NUMBER), channel="email")
    [decision] = decide(email, now=at(8, 30))
    assert (decision.action, decision.until) == (gate.DEFER, at(8, zone=CHICAGO))


def test_night_and_early_morning_are_deferred_never_dropped(company):
    text = message(debtor_account(company))
    [late] = decide(text, now=at(21, 0))
    assert (late.action, late.until) == (gate.DEFER, at(8, day=DAY + dt.timedelta(days=1)))
    [early] = decide(text, now=at(7, 59))
    assert (early.action, early.until) == (gate.DEFER, at(8))
    [first] = decide(text, now=at(8, 0))
    assert first.action == gate.SEND


def test_without_any_zone_the_message_is_suppressed_not_guessed(company):
    account = debtor_account(company, postal_code="", state="", number=NO_AREA)
    [decision] = decide(message(account), now=at(12))
    assert (decision.action, decision.rule) == (gate.SUPPRESS, "time_zone")
    assert "No time zone known" in decision.reason


def test_preferred_hours_narrow_the_window_and_the_override_relaxes_only_them(company):
    account = debtor_account(company)
    ContactPreference.objects.create(
        debtor=account.debtor, preferred_from=dt.time(10), preferred_to=dt.time(17)
    )
    plain = message(account)
    overridden = message(account, ignore_contact_preferences=True)
    held, sent = decide(plain, overridden, now=at(9))
    assert (held.action, held.until) == (gate.DEFER, at(10))
    assert "preferred hours" in held.reason
    assert (sent.action, sent.until) == (gate.SEND, at(21))
    # The override never opens the legal window.
    late_plain, late_overridden = decide(plain, overridden, now=at(21, 30))
    assert late_overridden.action == gate.DEFER and late_overridden.rule == "time_of_day"
    assert late_plain.until == at(10, day=DAY + dt.timedelta(days=1))
    # Within the preferred hours, it must be over by their end.
    [within] = decide(plain, now=at(12))
    assert (within.action, within.until) == (gate.SEND, at(17))


# --- legal stops ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(LegalStop.Kind))
def test_each_legal_stop_suppresses_and_an_ended_one_does_not(company, kind):
    account = debtor_account(company)
    stop = LegalStop.objects.create(account=account, kind=kind, source="Letter")
    text = message(account, ignore_contact_preferences=True)
    [decision] = decide(text, now=at(12))
    assert (decision.action, decision.rule) == (gate.SUPPRESS, "legal_stop")
    stop.ended_at = at(11)
    stop.save()
    [decision] = decide(text, now=at(12))
    assert decision.action == gate.SEND


def test_do_not_contact_suppresses_every_channel_even_with_the_override(company):
    account = debtor_account(company)
    ContactPreference.objects.create(debtor=account.debtor, do_not_contact=True)
    decisions = decide(
        message(account),
        message(account, channel="voice", ignore_contact_preferences=True),
        message(account, channel="email"),
        now=at(12),
    )
    assert {(d.action, d.rule) for d in decisions} == {(gate.SUPPRESS, "do_not_contact")}


def test_the_override_cannot_pass_an_opt_out(company):
    account = debtor_account(company)
    DebtorPhone.objects.filter(debtor=account.debtor).update(sms_opted_out=True)
    [decision] = decide(message(account, ignore_contact_preferences=True), now=at(12))
    assert (decision.action, decision.rule) == (gate.SUPPRESS, "opt_out")


# --- call frequency ------------------------------------------------------------------------


def placed_calls(account, *moments):
    for moment in moments:
        call = message(account, channel="voice", state=MessageState.DELIVERED)
        Message.objects.filter(pk=call.pk).update(sent_at=moment)


def test_seven_calls_in_seven_days_then_an_eighth_is_refused_until_the_first_ages_out(company):
    account = debtor_account(company)
    now = at(12)
    placed_calls(account, *(now - dt.timedelta(days=d, hours=1) for d in range(7)))
    call = message(account, channel="voice", ignore_contact_preferences=True)
    [decision] = decide(call, now=now)
    assert (decision.action, decision.rule) == (gate.DEFER, "call_frequency")
    oldest = now - dt.timedelta(days=6, hours=1)
    assert decision.until == oldest + dt.timedelta(days=7)
    assert "7 calls" in decision.reason
    # A text is not a call.
    [text] = decide(message(account), now=now)
    assert text.action == gate.SEND


def test_calls_of_one_batch_count_against_each_other(company):
    account = debtor_account(company)
    now = at(12)
    placed_calls(account, *(now - dt.timedelta(days=1, minutes=m) for m in range(5)))
    calls = [message(account, channel="voice") for _ in range(3)]
    decisions = decide(*calls, now=now)
    assert [d.action for d in decisions] == [gate.SEND, gate.SEND, gate.DEFER]


def test_no_call_in_the_seven_days_after_a_conversation(company):
    account = debtor_account(company)
    spoke = at(15, day=DAY - dt.timedelta(days=3))
    Conversation.objects.create(account=account, at=spoke)
    [decision] = decide(message(account, channel="voice"), now=at(12))
    assert (decision.action, decision.until) == (gate.DEFER, spoke + dt.timedelta(days=7))
    assert "conversation" in decision.reason
    # Another account of the same debtor is another debt.
    other = AccountFactory(company=company, debtor=account.debtor)
    [decision] = decide(message(other, channel="voice"), now=at(12))
    assert decision.action == gate.SEND


def test_massachusetts_allows_two_calls_in_seven_days(company):
    account = debtor_account(company, postal_code="02139", state="MA", number="+16175550100")
    now = at(12)
    placed_calls(account, now - dt.timedelta(days=2), now - dt.timedelta(days=5))
    [decision] = decide(message(account, channel="voice"), now=now)
    assert (decision.action, decision.rule) == (gate.DEFER, "call_frequency")
    assert decision.reason == "Massachusetts allows 2 calls about a debt in 7 days."
    assert decision.until == now - dt.timedelta(days=5) + dt.timedelta(days=7)
    # A company's own row for the state replaces the platform's.
    StateCallLimit.objects.create(company=company, state="MA", max_calls=3, days=7)
    [decision] = decide(message(account, channel="voice"), now=now)
    assert decision.action == gate.SEND


# --- weekly caps ---------------------------------------------------------------------------


def test_a_companys_weekly_text_cap_holds_and_the_override_relaxes_it(company):
    ContactPolicy.objects.create(company=company, max_texts_per_week=2)
    account = debtor_account(company)
    now = at(12)
    for days in (1, 3):
        sent = message(account, state=MessageState.SENT)
        Message.objects.filter(pk=sent.pk).update(sent_at=now - dt.timedelta(days=days))
    plain, email = message(account), message(account, channel="email")
    overridden = message(account, ignore_contact_preferences=True)
    held, emailed, sent = decide(plain, email, overridden, now=now)
    assert (held.action, held.rule) == (gate.DEFER, "weekly_cap")
    assert held.until == now - dt.timedelta(days=3) + dt.timedelta(days=7)
    assert sent.action == gate.SEND
    assert emailed.action == gate.SEND  # no cap on emails


# --- the dispatch --------------------------------------------------------------------------


def test_the_dispatch_holds_a_text_outside_the_window_and_sends_one_inside_it(
    company, twilio_loopback
):
    now = dt.datetime.now(UTC)
    # A debtor where it is now past midnight, another where it is midday.
    night_zone = zone_at(0)
    night = message(debtor_account(company, timezone=night_zone, number=NO_AREA))
    day = message(debtor_account(company, timezone=zone_at_midday(), number=NO_AREA))
    assert dispatch.send_due_messages() == 1
    night.refresh_from_db()
    day.refresh_from_db()
    assert (night.state, night.rule) == (MessageState.HELD, "time_of_day")
    assert night.send_after > now and night.events.filter(state=MessageState.HELD).exists()
    local = night.send_after.astimezone(ZoneInfo(night_zone))
    assert (local.hour, local.minute) == (8, 0)
    assert day.state == MessageState.SENT
    [request] = twilio_loopback.requests
    # The factory's zone is at midday: about eight hours and a half are left.
    validity = int(request["ValidityPeriod"])
    assert 7 * 3600 < validity <= 9 * 3600
    # Asked again before its moment, the held message waits without a new event.
    events = night.events.count()
    assert dispatch.send_due_messages() == 0
    assert night.events.count() == events


# --- Ignore Contact Preferences, confirmed ---------------------------------------------------


def test_the_override_needs_its_permission_and_a_reason_and_is_kept_and_audited(company, roles):
    from accounts.roles import COLLECTOR, SUPERVISOR
    from bulkops import services
    from bulkops.models import AuditEvent, BulkOperation
    from bulkops.registry import get_action
    from tests.communications.test_send_message import start
    from tests.factories import UserFactory

    account = debtor_account(company)
    data = {
        "channel": "sms",
        "source": "free_text",
        "text": "Hi, please call us. Reply STOP to opt out.",
        "when": "now",
    }
    action = get_action("send_message")
    collector = UserFactory(company=company, role=COLLECTOR)
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    assert "ignore_contact_preferences" not in action.get_form(user=collector).fields
    # A collector's forged tick is not read.
    forged = start(
        collector,
        [account],
        "send_message",
        {**data, "ignore_contact_preferences": "on", "override_reason": "Because"},
    )
    assert forged.parameters["ignore_contact_preferences"] is False
    # Without a reason: refused, nothing started.
    form = action.get_form({**data, "ignore_contact_preferences": "on"}, user=supervisor)
    assert not form.is_valid()
    assert form.errors["override_reason"] == ["Say why the contact preferences are ignored."]
    before = BulkOperation.objects.count()

    operation = start(
        supervisor,
        [account],
        "send_message",
        {**data, "ignore_contact_preferences": "on", "override_reason": "Hardship call-back"},
    )
    assert BulkOperation.objects.count() == before + 1
    assert operation.parameters["override_reason"] == "Hardship call-back"
    services.run_operation(operation.pk)
    [queued] = Message.objects.filter(bulk_operation=operation)
    assert queued.ignore_contact_preferences
    started = AuditEvent.objects.get(action="bulk_operation.started", bulk_operation=operation)
    assert started.changes["ignore_contact_preferences"] == [None, True]
    assert started.changes["override_reason"] == [None, "Hardship call-back"]
    assert "Ignore Contact Preferences (Hardship call-back)" in action.describe(
        operation.parameters
    )


def test_a_long_reason_is_kept_short_and_never_fails_the_batch(
    company, twilio_loopback, monkeypatch
):
    # Indiana's ZIP codes span eleven zones: the reason names the first few.
    indiana = debtor_account(company, postal_code="", state="IN", number=NO_AREA)
    [decision] = decide(message(indiana), now=at(7))
    assert decision.action == gate.DEFER and "and 7 more" in decision.reason
    # Whatever a rule says, the held message keeps at most the field's length.
    monkeypatch.setattr(gate, "_RULES", list(gate._RULES))
    later = dt.datetime.now(UTC) + dt.timedelta(hours=2)
    gate.rule("wordy")(lambda m: gate.defer("wordy", "x" * 400, later))
    text = message(debtor_account(company, timezone=zone_at_midday(), number=NO_AREA))
    assert dispatch.send_due_messages() == 0
    text.refresh_from_db()
    assert (text.state, text.rule) == (MessageState.HELD, "wordy")
    assert len(text.reason) == 255 and text.reason.endswith("…")


@pytest.mark.parametrize("zone", ["America/New_York", "America/Phoenix", "Pacific/Honolulu"])
def test_a_zones_remembered_window_is_the_one_it_would_compute(zone):
    """``_window_around`` keeps each zone's latest window for the moments it
    answers for: over three days around the end of daylight saving time
    (1 November 2026), every 37 minutes, what it remembers is what it
    computes afresh."""
    from communications import contact_rules

    moment = dt.datetime(2026, 10, 31, 0, 5, tzinfo=UTC)
    start, end = dt.time(8), dt.time(21)
    while moment < dt.datetime(2026, 11, 3, tzinfo=UTC):
        remembered = contact_rules._window_around(zone, start, end, moment)
        contact_rules._WINDOWS.clear()
        assert contact_rules._window_around(zone, start, end, moment) == remembered
        assert remembered[1] > moment  # the window it is in or before
        moment += dt.timedelta(minutes=37)
