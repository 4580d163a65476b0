"""The legal contact rules, as rules of the gate (``communications.gate``):
what Regulation F (12 CFR 1006) and the TCPA allow a US collection agency
to send, and each company's own caps.

- ``legal_stops`` suppresses (as ``do_not_contact`` or ``legal_stop``): the debtor asked not to be
  contacted; the account is under a written cease-communication notice, an
  attorney represents the debtor, a dispute is pending, the debtor died or
  is in bankruptcy (``communications.models.LegalStop``).
- ``time_zone`` / ``time_of_day`` (1006.6(b)(1)(i)): nothing before 8:00 or
  after 21:00 at the debtor's local time. The local time is every zone the
  debtor may be in (``accounts.timezones``: the ZIP code or else the state,
  and the number's area code; a zone set on the debtor, which the debtor
  told the agency, replaces them); a moment is allowed
  only when it is allowed in all of them, and a message outside the window
  is deferred to the next moment that is, never dropped. The debtor's
  preferred hours narrow the window. A debtor no zone is known for cannot
  be proved inside the window: their message is suppressed ("no time zone
  known") rather than sent on a guess. An allowed message carries the end
  of the window (``Decision.until``), which the dispatch passes on to Twilio
  as the message's validity period.
- ``call_frequency`` (1006.14(b)(2)): no call about a debt beyond 7 within
  7 consecutive days, none in the 7 days after a telephone conversation
  about it, and a state's own limit where it has one
  (``StateCallLimit``: Massachusetts, 2 in 7 days).
- ``weekly_cap``: a company's own limit on emails and texts per debtor in
  any 7 days (``ContactPolicy``).

"Ignore Contact Preferences" (a message's ``ignore_contact_preferences``)
relaxes only what is the debtor's or the company's choice: the preferred
hours and the weekly caps. No rule here reads it otherwise.

Each rule's ``prefetch`` looks up what it needs for the whole batch in one
or two queries; the rules themselves only read what was looked up."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, Q, Subquery

from accounts.models import Account, Debtor, DebtorPhone
from accounts.states import STATE_TIMEZONES
from accounts.timezones import zones_for_address, zones_for_number
from communications.gate import Decision, defer, moment, rule, suppress
from communications.models import (
    LEGAL_FROM,
    LEGAL_TO,
    Channel,
    ContactPolicy,
    Conversation,
    LegalStop,
    Message,
    StateCallLimit,
)

# How far ahead the next allowed moment is looked for (a week covers any
# preferred hours that lie inside the legal window).
HORIZON_DAYS = 8
WEEK = dt.timedelta(days=7)
# 12 CFR 1006.14(b)(2)(i): more than seven calls within seven consecutive days.
CALLS_PER_WEEK = 7

STOP_REASONS = {
    LegalStop.Kind.CEASE: "The debtor asked in writing that communication cease.",
    LegalStop.Kind.ATTORNEY: "An attorney represents the debtor on this account.",
    LegalStop.Kind.DISPUTE: "A dispute is pending: collection is paused until it is verified.",
    LegalStop.Kind.DECEASED: "The debtor is deceased.",
    LegalStop.Kind.BANKRUPTCY: "The debtor is in bankruptcy.",
}


def _debtor_id(message: Message) -> int:
    return message.account.debtor_id


# --- what the rules read about each account ------------------------------------------------


@dataclass
class _Facts:
    """What the legal stops and the time of day read, by account: one query
    for the batch (the two rules share it)."""

    debtors: dict[int, tuple[str, str, str]]  # account: (zone set on the debtor, ZIP, state)
    primary_numbers: dict[int, str]  # account: the debtor's primary phone (an email's area code)
    hours: dict[int, tuple[dt.time, dt.time]]  # account: the debtor's preferred hours
    do_not_contact: set[int]  # accounts whose debtor asked not to be contacted
    stops: dict[int, str]  # account: its first legal stop in force
    decided: dict = field(default_factory=dict)  # (zones, preferred hours): the time of day's


def _facts(messages: Sequence[Message]) -> _Facts:
    facts = _Facts({}, {}, {}, set(), {})
    stop = (
        LegalStop.objects.filter(account=OuterRef("pk"), ended_at__isnull=True)
        .order_by("created_at", "pk")
        .values("kind")[:1]
    )
    primary = DebtorPhone.objects.filter(debtor=OuterRef("debtor_id"), is_primary=True).values(
        "number"
    )[:1]
    rows = (
        Account.objects.filter(pk__any=list({m.account_id for m in messages}))
        .annotate(stop=Subquery(stop), primary_number=Subquery(primary))
        .values_list(
            "pk",
            "debtor__timezone",
            "debtor__postal_code",
            "debtor__state",
            "debtor__preference__do_not_contact",
            "debtor__preference__preferred_from",
            "debtor__preference__preferred_to",
            "stop",
            "primary_number",
        )
    )
    for pk, zone, postal_code, state, dnc, start, end, stop_kind, number in rows:
        facts.debtors[pk] = (zone, postal_code, state)
        facts.primary_numbers[pk] = number or ""
        if start is not None and end is not None:
            facts.hours[pk] = (start, end)
        if dnc:
            facts.do_not_contact.add(pk)
        if stop_kind:
            facts.stops[pk] = stop_kind
    return facts


# --- do not contact, legal stops ---------------------------------------------------------


@rule("legal_stops", prefetch=_facts)
def legal_stops_rule(message: Message, facts: _Facts) -> Decision | None:
    """Do not contact (the debtor's), then the account's legal stops."""
    return stop_decision(
        message.account_id in facts.do_not_contact, facts.stops.get(message.account_id)
    )


def stop_decision(do_not_contact: bool, kind: str | None) -> Decision | None:
    """The legal stops' answer: for the debtor's do not contact, else for
    the account's first legal stop in force (``kind``, or None)."""
    if do_not_contact:
        return suppress("do_not_contact", "The debtor asked not to be contacted.")
    if kind:
        return suppress("legal_stop", STOP_REASONS[kind])
    return None


# --- the time of day -------------------------------------------------------------------


def candidate_zones(
    *, debtor_zone: str, postal_code: str, state: str, number: str
) -> frozenset[str]:
    """Every zone the debtor may be in: the address's (the ZIP code's, else
    the state's) and the number's area code's. A zone set on the debtor is
    what the debtor told the agency ("I live in Arizona now"): it is then
    known, and it alone counts (the commentary to 1006.6(b)(1)(i) asks for
    every candidate only while the agency does not know)."""
    if debtor_zone:
        return frozenset({debtor_zone})
    return zones_for_address(postal_code, state) | zones_for_number(number)


def zones_of(message: Message, facts: _Facts) -> frozenset[str]:
    debtor_zone, postal_code, state = facts.debtors.get(message.account_id, ("", "", ""))
    number = (
        facts.primary_numbers.get(message.account_id, "")
        if message.channel == Channel.EMAIL
        else message.to
    )
    return candidate_zones(
        debtor_zone=debtor_zone, postal_code=postal_code, state=state, number=number
    )


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# Each zone's latest window, by (zone, start, end): (the previous day's
# close, opens, closes). It answers for every moment from that close to
# this one, so a process computes a zone's window about once a day.
_WINDOWS: dict[tuple[str, dt.time, dt.time], tuple[dt.datetime, dt.datetime, dt.datetime]] = {}
_WINDOWS_KEPT = 10_000


def _window_around(zone: str, start: dt.time, end: dt.time, moment: dt.datetime):
    """The zone's daily window [opens, closes) that ``moment`` is in or
    before: the one of its local day, or the next day's once that closed."""
    kept = _WINDOWS.get((zone, start, end))
    if kept is not None and kept[0] <= moment < kept[2]:
        return kept[1], kept[2]
    tz = _zone(zone)
    day = moment.astimezone(tz).date()
    closes = dt.datetime.combine(day, end, tz)
    if moment >= closes:
        day += dt.timedelta(days=1)
        closes = dt.datetime.combine(day, end, tz)
    opens = dt.datetime.combine(day, start, tz)
    if len(_WINDOWS) >= _WINDOWS_KEPT:
        _WINDOWS.clear()
    _WINDOWS[zone, start, end] = (
        dt.datetime.combine(day - dt.timedelta(days=1), end, tz),
        opens,
        closes,
    )
    return opens, closes


def allowed_window(
    zones: frozenset[str], start: dt.time, end: dt.time, now: dt.datetime
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(the first moment from ``now`` that lies inside [start, end) local
    time in every zone, the end of that moment's window in the first zone
    to close); (None, None) when there is none within the horizon.

    From ``now``, while some zone's window has not opened yet, move on to
    the latest of the zones' next openings: the first moment every window
    holds, or past the horizon when they never overlap."""
    moment, horizon = now, now + dt.timedelta(days=HORIZON_DAYS)
    while moment <= horizon:
        around = [_window_around(zone, start, end, moment) for zone in zones]
        opens = max(opened for opened, _ in around)
        if opens <= moment:
            return moment, min(closes for _, closes in around)
        moment = opens
    return None, None


def _hours_text(start: dt.time, end: dt.time) -> str:
    return f"{start:%H:%M} to {end:%H:%M}"


ZONES_NAMED = 4


def _zone_names(zones: frozenset[str]) -> str:
    """The zones, the first few by name (Indiana's ZIP codes alone span eleven)."""
    names = sorted(zones)
    if len(names) <= ZONES_NAMED:
        return ", ".join(names)
    return ", ".join(names[:ZONES_NAMED]) + f" and {len(names) - ZONES_NAMED} more"


@rule("time_of_day", prefetch=_facts)
def time_of_day_rule(message: Message, facts: _Facts) -> Decision | None:
    zones = zones_of(message, facts)
    preferred = None if message.ignore_contact_preferences else facts.hours.get(message.account_id)
    # Many messages of a batch share their zones and hours: one answer each.
    key = (zones, preferred)
    decision = facts.decided.get(key)
    if decision is None:
        decision = facts.decided[key] = _time_of_day(zones, preferred, moment())
    return decision


def _time_of_day(zones: frozenset[str], preferred, now: dt.datetime) -> Decision:
    if not zones:
        return suppress(
            "time_zone",
            "No time zone known: neither an address nor a phone number places the debtor in one.",
        )
    start, end = LEGAL_FROM, LEGAL_TO
    if preferred is not None:
        # Preferred hours narrow the legal window, never widen it.
        start, end = max(start, preferred[0]), min(end, preferred[1])
    at, closes = allowed_window(zones, start, end, now) if start < end else (None, None)
    hours = _hours_text(start, end)
    if at is None:
        return suppress(
            "time_of_day",
            f"No moment within {hours} local time in every zone the debtor may be in "
            f"({_zone_names(zones)}).",
        )
    if at > now:
        what = "the debtor's preferred hours" if preferred is not None else "8:00 to 21:00"
        return defer(
            "time_of_day",
            f"Outside {what} ({hours}) local time in {_zone_names(zones)}.",
            at,
        )
    return Decision("send", "time_of_day", "", closes)


# --- call frequency ------------------------------------------------------------------------


@dataclass
class _Calls:
    placed: dict[int, list[dt.datetime]]  # account: calls placed, latest first
    spoke: dict[int, dt.datetime]  # account: the last telephone conversation
    state_limits: dict[int, tuple[str, int, int]]  # account: (state, max calls, days)


def _state_limits(messages: Sequence[Message]) -> dict[int, tuple[str, int, int]]:
    states = dict(
        Debtor.objects.filter(pk__any=list({_debtor_id(m) for m in messages})).values_list(
            "pk", "state"
        )
    )
    limits: dict[tuple[int | None, str], tuple[int, int]] = {
        (company_id, state): (max_calls, days)
        for company_id, state, max_calls, days in StateCallLimit.objects.filter(
            Q(company__isnull=True) | Q(company_id__in={m.company_id for m in messages}),
            state__in=set(states.values()),
        ).values_list("company_id", "state", "max_calls", "days")
    }
    found = {}
    for message in messages:
        state = states.get(_debtor_id(message), "")
        limit = limits.get((message.company_id, state)) or limits.get((None, state))
        if limit is not None:
            found[message.account_id] = (state, *limit)
    return found


def _calls(messages: Sequence[Message]) -> _Calls:
    calls = [m for m in messages if m.channel == Channel.VOICE]
    if not calls:
        return _Calls({}, {}, {})
    now = moment()
    state_limits = _state_limits(calls)
    days = max([7] + [limit[2] for limit in state_limits.values()])
    account_ids = {m.account_id for m in calls}
    placed: dict[int, list[dt.datetime]] = defaultdict(list)
    for account_id, sent_at in (
        Message.objects.filter(
            account_id__any=list(account_ids),
            channel=Channel.VOICE,
            sent_at__gt=now - dt.timedelta(days=days),
            sent_at__lte=now,
        )
        .order_by("-sent_at")
        .values_list("account_id", "sent_at")
    ):
        placed[account_id].append(sent_at)
    spoke = {}
    for account_id, at in Conversation.objects.filter(
        account_id__any=list(account_ids), at__gt=now - WEEK, at__lte=now
    ).values_list("account_id", "at"):
        spoke[account_id] = max(at, spoke.get(account_id, at))
    return _Calls(dict(placed), spoke, state_limits)


def _full_until(placed: list[dt.datetime], limit: int, days: int, now) -> dt.datetime | None:
    """When another call is allowed, if ``limit`` calls already lie within
    the last ``days`` days (``placed`` latest first); None when one is now."""
    window = dt.timedelta(days=days)
    recent = [at for at in placed if at > now - window]
    if len(recent) < limit:
        return None
    return recent[limit - 1] + window


@rule("call_frequency", prefetch=_calls)
def call_frequency_rule(message: Message, calls: _Calls) -> Decision | None:
    if message.channel != Channel.VOICE:
        return None
    now = moment()
    placed = calls.placed.setdefault(message.account_id, [])
    reasons: list[tuple[dt.datetime, str]] = []
    spoke = calls.spoke.get(message.account_id)
    if spoke is not None:
        reasons.append(
            (
                spoke + WEEK,
                f"A telephone conversation about this debt on {spoke:%m/%d/%Y}: no call in "
                "the 7 days after it (12 CFR 1006.14(b)(2)(ii)).",
            )
        )
    until = _full_until(placed, CALLS_PER_WEEK, 7, now)
    if until is not None:
        reasons.append(
            (
                until,
                f"{CALLS_PER_WEEK} calls about this debt in 7 days already "
                "(12 CFR 1006.14(b)(2)(i)).",
            )
        )
    limit = calls.state_limits.get(message.account_id)
    if limit is not None:
        state, max_calls, days = limit
        until = _full_until(placed, max_calls, days, now)
        if until is not None:
            name = STATE_TIMEZONES.get(state, (state,))[0]
            reasons.append((until, f"{name} allows {max_calls} calls about a debt in {days} days."))
    if reasons:
        until, reason = max(reasons)
        return defer("call_frequency", reason, until)
    # Allowed: it counts against the next calls of the same batch.
    placed.insert(0, now)
    return None


# --- the company's weekly caps -------------------------------------------------------------


@dataclass
class _Caps:
    caps: dict[tuple[int, str], int]  # (company, channel): per debtor per 7 days
    sent: dict[tuple[int, int, str], list[dt.datetime]]  # (company, debtor, channel): latest first


def _capped(message: Message, caps: dict) -> int | None:
    return caps.get((message.company_id, message.channel))


def _caps(messages: Sequence[Message]) -> _Caps:
    caps: dict[tuple[int, str], int] = {}
    for company_id, emails, texts in ContactPolicy.objects.filter(
        company_id__in={m.company_id for m in messages}
    ).values_list("company_id", "max_emails_per_week", "max_texts_per_week"):
        if emails is not None:
            caps[company_id, Channel.EMAIL] = emails
        if texts is not None:
            caps[company_id, Channel.SMS] = texts
    capped = [m for m in messages if _capped(m, caps) is not None]
    sent: dict[tuple[int, int, str], list[dt.datetime]] = defaultdict(list)
    if capped:
        now = moment()
        # By the debtors' accounts, then each account's messages (its index):
        # a few rows, however many messages were ever sent.
        their_accounts = Account.objects.filter(
            debtor_id__any=list({_debtor_id(m) for m in capped})
        ).values("pk")
        for company_id, debtor_id, channel, sent_at in (
            Message.objects.filter(
                account_id__in=Subquery(their_accounts),
                company_id__in={m.company_id for m in capped},
                channel__in={m.channel for m in capped},
                sent_at__gt=now - WEEK,
                sent_at__lte=now,
            )
            .order_by("-sent_at")
            .values_list("company_id", "account__debtor_id", "channel", "sent_at")
        ):
            sent[company_id, debtor_id, channel].append(sent_at)
    return _Caps(caps, dict(sent))


@rule("weekly_cap", prefetch=_caps)
def weekly_cap_rule(message: Message, caps: _Caps) -> Decision | None:
    cap = _capped(message, caps.caps)
    if cap is None or message.ignore_contact_preferences:
        return None
    now = moment()
    sent = caps.sent.setdefault((message.company_id, _debtor_id(message), message.channel), [])
    noun = "emails" if message.channel == Channel.EMAIL else "texts"
    if cap == 0:
        return suppress("weekly_cap", f"The company sends debtors no {noun}.")
    until = _full_until(sent, cap, 7, now)
    if until is not None:
        return defer(
            "weekly_cap", f"The company sends a debtor at most {cap} {noun} in 7 days.", until
        )
    sent.insert(0, now)
    return None
