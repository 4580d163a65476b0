"""The contact-rules gate: every message, bulk or single, of any channel,
passes ``check`` when it is about to be sent (and the dialogs ask it first
to say how many would be held or suppressed). It answers send, defer until
a moment, or suppress with the rule and the reason.

Rules are functions registered with ``@rule("name")``: given the message,
each returns None (no objection) or a Decision. A suppression wins over a
deferral; of several deferrals the latest moment wins, so a message is sent
only once every rule allows it. This module has the rules every channel
needs to reach a person at all (the contact point exists, is not invalid,
has consent and no opt-out); the contact-rules issue adds the legal ones
(time of day, frequency, legal stops) the same way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from accounts.models import ContactPoint, DebtorEmail, DebtorPhone
from communications.models import Channel, Message

SEND, DEFER, SUPPRESS = "send", "defer", "suppress"


@dataclass(frozen=True)
class Decision:
    action: str
    rule: str = ""
    reason: str = ""
    until: dt.datetime | None = None


ALLOW = Decision(SEND)

Rule = Callable[[Message], Decision | None]
_RULES: list[tuple[str, Rule]] = []


def rule(name: str) -> Callable[[Rule], Rule]:
    """Register a rule of the gate under ``name`` (shown with its reason)."""

    def register(function: Rule) -> Rule:
        if any(existing == name for existing, _ in _RULES):
            raise ValueError(f"Two gate rules are named {name!r}.")
        _RULES.append((name, function))
        return function

    return register


def rules() -> list[str]:
    return [name for name, _ in _RULES]


def suppress(rule_name: str, reason: str) -> Decision:
    return Decision(SUPPRESS, rule_name, reason)


def defer(rule_name: str, reason: str, until: dt.datetime) -> Decision:
    return Decision(DEFER, rule_name, reason, until)


def check(message: Message) -> Decision:
    """What may happen to ``message`` now, by every registered rule."""
    deferral: Decision | None = None
    for _name, function in _RULES:
        decision = function(message)
        if decision is None or decision.action == SEND:
            continue
        if decision.action == SUPPRESS:
            return decision
        if deferral is None or decision.until > deferral.until:
            deferral = decision
    return deferral or ALLOW


# --- the contact point ---------------------------------------------------------------------


@rule("contact_point")
def contact_point_rule(message: Message) -> Decision | None:
    """The address or number is the debtor's, not known invalid, consented
    to for the channel and not opted out of."""
    debtor_id = message.account.debtor_id
    if message.channel == Channel.EMAIL:
        point = DebtorEmail.objects.filter(debtor_id=debtor_id, address__iexact=message.to).first()
        consent, opted_out = ("email_consent", "email_opted_out")
        noun = "email address"
    else:
        point = DebtorPhone.objects.filter(debtor_id=debtor_id, number=message.to).first()
        kind = "sms" if message.channel == Channel.SMS else "voice"
        consent, opted_out = (f"{kind}_consent", f"{kind}_opted_out")
        noun = "phone number"
    if point is None:
        return suppress("contact_point", f"The {noun} is no longer the debtor's.")
    if point.validity == ContactPoint.Validity.INVALID:
        return suppress("contact_point", f"The {noun} is marked invalid.")
    if getattr(point, opted_out):
        return suppress("opt_out", f"The debtor opted out of {message.get_channel_display()}.")
    if not getattr(point, consent):
        return suppress("consent", f"No consent to {message.get_channel_display()} at this {noun}.")
    return None
