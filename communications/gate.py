"""The contact-rules gate: every message, bulk or single, of any channel,
passes ``check`` (or ``check_many``, for a batch) when it is about to be
sent (and the dialogs ask it first to say how many would be held or
suppressed). It answers send, defer until a moment, or suppress with the
rule and the reason.

Rules are functions registered with ``@rule("name")``: given the message,
each returns None (no objection) or a Decision. A suppression wins over a
deferral; of several deferrals the latest moment wins, so a message is sent
only once every rule allows it. This module has the rules every channel
needs to reach a person at all (the contact point exists, is not invalid,
has consent and no opt-out); ``communications.contact_rules`` adds the
legal ones (legal stops, the time of day, call frequency, weekly caps) the
same way. A rule reads the moment decided for with ``moment()``.

The dispatch asks for a batch at once (``check_many``); ``check`` is a
batch of one. A rule that needs to look something up in the database says
how to do it for the whole batch with ``prefetch``: a function given every
message the rule is about to judge (those no earlier rule suppressed), which
looks up what the rule needs in a few set-based queries and returns it (a
dict, say); the rule is then called as ``function(message, looked_up)``
with that, once per message, and reads it instead of querying::

    def _last_sent(messages):
        return dict(Message.objects.filter(...).values_list("account_id")
                    .annotate(Max("sent_at")))  # one query for the batch

    @rule("frequency", prefetch=_last_sent)
    def frequency_rule(message, last_sent):
        ...

Several rules may share one ``prefetch``: it runs once, for the messages
the first of them judges. A rule without ``prefetch`` is called as
``function(message)``. Rules run
in the order they were registered. The dispatch's messages come with their
account and its office (``select_related``); anything else a rule reads
from the database belongs in its ``prefetch``, or it costs a query per
message.

For a batch, a screen may answer first (``register_screen``): one
set-based look-up that proves most messages plainly allowed and leaves the
others to the rules (``communications.screen``, on PostgreSQL: the rules'
own look-ups cost about as much as reading the batch)."""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.utils import timezone

from accounts.models import ContactPoint, DebtorEmail, DebtorPhone
from communications.models import Channel, Message

SEND, DEFER, SUPPRESS = "send", "defer", "suppress"


@dataclass(frozen=True)
class Decision:
    """``until`` is, for a deferral, when to ask again; for a send, the
    moment after which the message must no longer go (the end of the
    debtor's allowed hours: a provider's queue must not deliver it later)."""

    action: str
    rule: str = ""
    reason: str = ""
    until: dt.datetime | None = None


ALLOW = Decision(SEND)


Rule = Callable[..., Decision | None]
Prefetch = Callable[[Sequence[Message]], Any]
# (name, rule, prefetch or None), in the order they were registered.
_RULES: list[tuple[str, Rule, Prefetch | None]] = []


def rule(name: str, *, prefetch: Prefetch | None = None) -> Callable[[Rule], Rule]:
    """Register a rule of the gate under ``name`` (shown with its reason).
    With ``prefetch``, the rule is called as ``function(message, looked_up)``
    where ``looked_up = prefetch(messages)`` is computed once per batch."""

    def register(function: Rule) -> Rule:
        if any(existing == name for existing, *_ in _RULES):
            raise ValueError(f"Two gate rules are named {name!r}.")
        _RULES.append((name, function, prefetch))
        return function

    return register


def rules() -> list[str]:
    return [name for name, *_ in _RULES]


def suppress(rule_name: str, reason: str) -> Decision:
    return Decision(SUPPRESS, rule_name, reason)


def defer(rule_name: str, reason: str, until: dt.datetime) -> Decision:
    return Decision(DEFER, rule_name, reason, until)


_MOMENT: contextvars.ContextVar[dt.datetime] = contextvars.ContextVar("gate_moment")


def moment() -> dt.datetime:
    """The moment the gate is deciding for (now, unless a check asked about
    another): what a rule compares its clocks with."""
    return _MOMENT.get()


def check(message: Message, *, now: dt.datetime | None = None) -> Decision:
    """What may happen to ``message`` now (or at ``now``), by every rule."""
    [decision] = preview([message], now=now)
    return decision


def check_many(
    messages: Iterable[Message], *, now: dt.datetime | None = None
) -> dict[int, Decision]:
    """``check`` for many (saved) messages at once, by their pk: each rule's
    ``prefetch`` runs once for all of them."""
    messages = list(messages)
    return {m.pk: d for m, d in zip(messages, preview(messages, now=now), strict=True)}


def preview(messages: Sequence[Message], *, now: dt.datetime | None = None) -> list[Decision]:
    """The decisions for ``messages`` (saved or not: a dialog asks about the
    messages it would queue) in their order. Messages of a batch count
    against each other (the frequency rules count the ones allowed before)."""
    token = _MOMENT.set(now or timezone.now())
    try:
        return _decide(list(messages))
    finally:
        _MOMENT.reset(token)


@dataclass(frozen=True)
class _Screen:
    function: Callable[[Sequence[Message], dt.datetime], Any]
    covers: frozenset[str]
    min_batch: int


_SCREENS: list[_Screen] = []


def register_screen(
    function: Callable[[Sequence[Message], dt.datetime], Any],
    *,
    covers: Iterable[str],
    min_batch: int = 2,
) -> None:
    """A set-based screen for batches of at least ``min_batch`` messages,
    asked only while the registered rules are exactly ``covers``:
    ``function(messages, moment)`` returns (the positions of the messages
    the rules must decide, {position: decision} for the others), or None
    when it cannot screen here. What it decides must be what the rules
    would (``communications.screen``)."""
    _SCREENS.append(_Screen(function, frozenset(covers), min_batch))


def _decide(messages: list[Message]) -> list[Decision]:
    names = frozenset(rules())
    for screen in _SCREENS:
        if screen.covers != names or len(messages) < screen.min_batch:
            continue
        screened = screen.function(messages, moment())
        if screened is None:
            continue
        flagged, decided = screened
        decisions: list[Decision | None] = [decided.get(i) for i in range(len(messages))]
        # The rules decide the flagged ones together, in the batch's order.
        for i, decision in zip(flagged, _by_rules([messages[i] for i in flagged]), strict=True):
            decisions[i] = decision
        return decisions
    return _by_rules(messages)


def _by_rules(messages: list[Message]) -> list[Decision]:
    if not messages:
        return []
    suppressions: list[Decision | None] = [None] * len(messages)
    deferrals: list[Decision | None] = [None] * len(messages)
    # The earliest moment a rule said an allowed message must be sent by.
    send_by: list[dt.datetime | None] = [None] * len(messages)
    looked_up_by: dict[Prefetch, Any] = {}
    for _name, function, prefetch in _RULES:
        # A suppressed message is not asked about again (it cannot be sent anyway).
        pending = [i for i, s in enumerate(suppressions) if s is None]
        if not pending:
            break
        if prefetch is not None:
            # Rules sharing a prefetch share its look-up: made once, for the
            # messages the first of them judged (the later ones judge fewer).
            if prefetch not in looked_up_by:
                looked_up_by[prefetch] = prefetch([messages[i] for i in pending])
            looked_up = looked_up_by[prefetch]
            decisions = [(i, function(messages[i], looked_up)) for i in pending]
        else:
            decisions = [(i, function(messages[i])) for i in pending]
        for i, decision in decisions:
            if decision is None:
                continue
            if decision.action == SEND:
                if decision.until is not None and (
                    send_by[i] is None or decision.until < send_by[i]
                ):
                    send_by[i] = decision.until
            elif decision.action == SUPPRESS:
                suppressions[i] = decision
            elif deferrals[i] is None or decision.until > deferrals[i].until:
                deferrals[i] = decision
    return [
        s or d or (Decision(SEND, until=by) if by is not None else ALLOW)
        for s, d, by in zip(suppressions, deferrals, send_by, strict=True)
    ]


# --- the contact point ---------------------------------------------------------------------


def _point_key(message: Message) -> tuple[int, str, str]:
    return (message.account.debtor_id, message.channel, message.to)


class Point(NamedTuple):
    """What the rule reads of a contact point, for the message's channel (a
    tuple: a batch makes one for every address its debtors have)."""

    invalid: bool
    consent: bool
    opted_out: bool


def _contact_points(messages: Sequence[Message]) -> dict[tuple[int, str, str], Point | None]:
    """Each message's contact point, by (debtor, channel, address or number);
    None when the debtor has no such address or number: the debtors' email
    addresses in one query and their phone numbers in another, only the
    columns the rule reads. An address is matched case-insensitively, a
    number exactly; of several, the first made."""
    emails = [m for m in messages if m.channel == Channel.EMAIL]
    phones = [m for m in messages if m.channel != Channel.EMAIL]
    invalid = ContactPoint.Validity.INVALID
    found: dict[tuple[int, str, str], Point | None] = {}
    if emails:
        by_address: dict[tuple[int, str], Point] = {}
        for debtor_id, address, validity, consent, opted_out in (
            DebtorEmail.objects.filter(debtor_id__any=list({m.account.debtor_id for m in emails}))
            .order_by("-pk")
            .values_list("debtor_id", "address", "validity", "email_consent", "email_opted_out")
        ):
            # The first made wins: it is written last.
            by_address[debtor_id, address.upper()] = Point(validity == invalid, consent, opted_out)
        for message in emails:
            found[_point_key(message)] = by_address.get(
                (message.account.debtor_id, message.to.upper())
            )
    if phones:
        by_number: dict[tuple[int, str, str], Point] = {}
        for row in (
            DebtorPhone.objects.filter(
                debtor_id__any=list({m.account.debtor_id for m in phones}),
                number__any=list({m.to for m in phones}),
            )
            .order_by("-pk")
            .values_list(
                "debtor_id", "number", "validity",
                "sms_consent", "sms_opted_out", "voice_consent", "voice_opted_out",
            )
        ):  # fmt: skip
            debtor_id, number, validity, sms_consent, sms_out, voice_consent, voice_out = row
            bad = validity == invalid
            by_number[debtor_id, number, Channel.SMS] = Point(bad, sms_consent, sms_out)
            by_number[debtor_id, number, Channel.VOICE] = Point(bad, voice_consent, voice_out)
        for message in phones:
            found[_point_key(message)] = by_number.get(
                (message.account.debtor_id, message.to, message.channel)
            )
    return found


@rule("contact_point", prefetch=_contact_points)
def contact_point_rule(message: Message, points: dict) -> Decision | None:
    """The address or number is the debtor's, not known invalid, consented
    to for the channel and not opted out of."""
    return point_decision(message, points[_point_key(message)])


def point_decision(message: Message, point: Point | None) -> Decision | None:
    """What the contact point rule says of ``message`` to ``point`` (None:
    the debtor has no such address or number)."""
    noun = "email address" if message.channel == Channel.EMAIL else "phone number"
    if point is None:
        return suppress("contact_point", f"The {noun} is no longer the debtor's.")
    if point.invalid:
        return suppress("contact_point", f"The {noun} is marked invalid.")
    if point.opted_out:
        return suppress("opt_out", f"The debtor opted out of {message.get_channel_display()}.")
    if not point.consent:
        return suppress("consent", f"No consent to {message.get_channel_display()} at this {noun}.")
    return None
