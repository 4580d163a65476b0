"""Call Now (the account page's button, seed 004): click-to-call through
Twilio. The app calls the collector's own phone and, once they answer,
Twilio dials the debtor's number and bridges the two (``<Dial>``).

A call is a message of the voice channel, so it passes the same gate as
every other (consent, opt-out, legal stops, the 8:00 to 21:00 window in
every candidate zone, the call frequency), and, placed, counts toward the
call frequency like any call. A call the rules forbid is recorded all the
same (suppressed, with the rule and its reason) and refused with that
reason. Either way the attempt is in the account's Diary and its audit."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioException

from accounts.models import Account, DebtorPhone
from accounts.selectors import accounts_visible_to
from bulkops.services import record_audit_event
from communications import dispatch, gate
from communications.models import Channel, Message, MessageState

PERMISSION = "communications.place_calls"
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


class CallRefused(Exception):
    """The contact rules (or the provider) did not let the call through."""

    def __init__(self, reason: str, message: Message):
        super().__init__(reason)
        self.reason, self.message = reason, message


def _checked(actor, account: Account, phone_id: int, collector_number: str) -> DebtorPhone:
    if not actor.has_perm(PERMISSION):
        raise PermissionDenied("Your role may not place calls.")
    if not accounts_visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("That account is not available to you.")
    phone = DebtorPhone.objects.filter(pk=phone_id, debtor_id=account.debtor_id).first()
    if phone is None:
        raise ValidationError({"phone": "That number is not this account's debtor's."})
    if not E164.match(collector_number or ""):
        raise ValidationError({"your_number": "Your number, like +15555550123."})
    return phone


def call_now(*, actor, account: Account, phone_id: int, collector_number: str) -> Message:
    """Place the call, or record why not (raises CallRefused)."""
    phone = _checked(actor, account, phone_id, collector_number)
    now = timezone.now()
    call = Message(
        company_id=actor.company_id or account.company_id,
        account=account,
        channel=Channel.VOICE,
        to=phone.number,
        subject="Call Now",
        text=f"Call Now by {actor}: their phone, then the debtor's.",
        send_after=now,
        created_by=actor,
    )
    decision = gate.check(call, now=now)
    if decision.action != gate.SEND:
        reason = decision.reason or "The contact rules do not allow a call now."
        _record(call, actor, MessageState.SUPPRESSED, rule=decision.rule, reason=reason)
        raise CallRefused(reason, call)
    twiml = (
        f'<Response><Dial callerId="{escape(settings.TWILIO_FROM_NUMBER)}">'
        f"<Number>{escape(phone.number)}</Number></Dial></Response>"
    )
    try:
        placed = dispatch.twilio_client().calls.create(
            to=collector_number,
            from_=settings.TWILIO_FROM_NUMBER,
            twiml=twiml,
            status_callback=settings.TWILIO_STATUS_CALLBACK_URL or None,
        )
    except TwilioException as error:
        reason = f"Twilio did not place the call: {error}"[:255]
        _record(call, actor, MessageState.FAILED, rule="provider", error=reason, reason=reason)
        raise CallRefused(reason, call) from error
    _record(call, actor, MessageState.SENT, provider_id=placed.sid, sent_at=timezone.now())
    return call


@transaction.atomic
def _record(call: Message, actor, state: str, **fields) -> None:
    """The attempt as a message in its final state (with its one event), and
    the audit on the account."""
    for name, value in fields.items():
        setattr(call, name, value)
    call.state = state
    call.save()
    call.events.create(state=state, detail=(fields.get("reason") or "Call Now")[:255])
    record_audit_event(
        actor=actor,
        action="call.placed" if state == MessageState.SENT else "call.refused",
        obj=call.account,
        changes={"call": (None, fields.get("reason") or f"placed to {call.to[-4:]}")},
    )
