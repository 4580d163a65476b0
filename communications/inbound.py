"""Text messages debtors send to the company's number (Twilio's incoming
message webhook, ``communications.webhooks.twilio_inbound``): stored once per
Twilio MessageSid, matched to what they answer, and acted on when they are a
STOP, START or HELP (47 CFR 64.1200(a)(10); ``communications.keywords``
decides which a message is).

``handle_incoming_sms`` is the webhook's service: in one transaction it
stores the message (``receive_sms``) and, only when it is new, acts on it
(``act_on_reply``), so the opt-out commits with the stored message or not at
all, and a MessageSid Twilio sends again finds the message stored and
changes nothing more, and gets no second answer.

* **STOP** (any reasonable revocation): every ``DebtorPhone`` with the
  sender's number is opted out of texts (``sms_opted_out``, with the moment
  and ``STOP_SOURCE``; one already opted out keeps its first date), and
  every SMS to that number still queued or held is suppressed under the
  gate's ``opt_out`` rule, set-based, with its ``MessageEvent``: before the
  next dispatch tick, not at its send time. The gate would suppress them
  then anyway (the number is opted out); suppressing them now makes the
  batch pages say so at once and leaves nothing waiting on the number.
* **START / UNSTOP / YES**: the number's ``DebtorPhone`` rows are opted
  back in and given consent (``START_SOURCE``): the debtor texting START to
  the company's number is that consent. Messages suppressed earlier stay
  suppressed (a final state); new ones can be sent.
* **HELP**: nothing changes; the answer is the company's
  ``ContactPolicy.help_text``.

Which rows a reply changes: every debtor's phone with that number, whichever
company's text it answers. A revocation from a phone is about that phone
(whoever holds it now may not be the debtor the text was for), and texting a
number that said STOP is the harm the rule is about; suppressing more than
strictly asked is the safe side, and START from the same phone undoes it.

A message already ``sending`` when the STOP arrives (a dispatch worker took
it before the opt-out committed) is in the provider's hands: it is not
touched (its worker records the provider's answer), and it may arrive
after the STOP. The suppression locks the rows it moves and re-reads their
state under the lock, so it waits for a worker's short take transaction
and never overwrites what the worker decided."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, Company, DebtorPhone
from bulkops.services import record_audit_event, record_audit_event_about
from communications import keywords
from communications.models import (
    Channel,
    ContactPolicy,
    InboundMessage,
    Message,
    MessageEvent,
    MessageState,
)

# What a reply records as the source of the opt-out or of the consent
# (``sms_opt_out_source`` / ``sms_consent_source``).
STOP_SOURCE = "Reply STOP"
START_SOURCE = "Reply START"
# The rule and reason a suppressed message names: the gate's own rule for an
# opted-out number, so the batch pages count them together.
RULE = "opt_out"
OPT_OUT_REASON = "The debtor replied STOP."
SUPPRESSIBLE_STATES = (MessageState.QUEUED, MessageState.HELD)
EVENT_BATCH = 1000


def number_forms(number: str) -> list[str]:
    """The forms ``number`` may be stored in: as it came, and in E.164 (how
    ``DebtorPhone.number`` and ``Message.to`` hold numbers), read as a US
    number when it has no country code. Twilio sends E.164 already; this
    keeps a "(555) 555-0123" or "15555550123" from missing its rows."""
    raw = (number or "").strip()
    forms = [raw] if raw else []
    try:
        parsed = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return forms
    if phonenumbers.is_possible_number(parsed):
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in forms:
            forms.append(e164)
    return forms


def answered_message(from_number: str) -> Message | None:
    """The latest SMS sent to ``from_number``: what a reply from it answers.
    Only messages that reached Twilio count (``sent_at`` is set when Twilio
    took one; later states — delivered, undelivered, failed — keep it)."""
    return (
        Message.objects.filter(
            channel=Channel.SMS, to__in=number_forms(from_number), sent_at__isnull=False
        )
        .order_by("-sent_at", "-pk")
        .first()
    )


def receive_sms(
    *, provider_id: str, from_number: str, to_number: str, body: str
) -> tuple[InboundMessage, bool]:
    """Store one incoming SMS, once per Twilio MessageSid (Twilio retries a
    webhook it did not see answered, so the same one may come again).
    Returns the stored message and whether it is new. Two deliveries of the
    same MessageSid at once meet at its unique index: one stores it, the
    other waits for that commit and finds it."""
    existing = InboundMessage.objects.filter(provider_id=provider_id).first()
    if existing is not None:
        return existing, False
    answered = answered_message(from_number)
    return InboundMessage.objects.get_or_create(
        provider_id=provider_id,
        defaults={
            "from_number": from_number[:32],
            "to_number": to_number[:32],
            "body": body,
            "company_id": answered.company_id if answered else None,
            "account_id": answered.account_id if answered else None,
            "in_reply_to": answered,
        },
    )


@dataclass(frozen=True)
class Reply:
    """What ``act_on_reply`` did about one incoming message: its keyword
    (``keywords.STOP``, ``START`` or ``HELP``), the text to answer it with,
    how many phone rows it changed and how many waiting texts it suppressed."""

    keyword: str
    answer: str
    phones: int = 0
    suppressed: int = 0


@dataclass(frozen=True)
class Received:
    """What ``handle_incoming_sms`` did: the stored message, whether it was
    new (False: a MessageSid seen before, which changed nothing), and the
    reply, when it was a keyword and new."""

    message: InboundMessage
    new: bool
    reply: Reply | None


def handle_incoming_sms(
    *, provider_id: str, from_number: str, to_number: str, body: str
) -> Received:
    """Store an incoming SMS and, the first time its MessageSid is seen, act
    on it: one transaction, so a failure stores nothing and Twilio's retry
    starts again, and a replay has no second effect."""
    with transaction.atomic():
        message, new = receive_sms(
            provider_id=provider_id, from_number=from_number, to_number=to_number, body=body
        )
        reply = act_on_reply(message) if new else None
    return Received(message=message, new=new, reply=reply)


def act_on_reply(message: InboundMessage) -> Reply | None:
    """Act on a stored incoming SMS that is a STOP, START or HELP (see the
    module's docstring); None for any other message, which changes nothing.
    Audited: each phone row changed (no user as actor: the debtor did it),
    and the reply itself on the incoming message (its keyword, the answer
    sent back and the counts). Call it once per message, in the transaction
    that stored it, as ``handle_incoming_sms`` does: it is not idempotent
    about the answer (a second call would answer again)."""
    keyword = keywords.classify(message.body)
    if keyword is None:
        return None
    now = timezone.now()
    numbers = number_forms(message.from_number)
    phones = suppressed = 0
    with transaction.atomic():
        if keyword == keywords.STOP:
            phones = _opt_out(message, numbers, now)
            suppressed = _suppress_waiting(numbers, now)
        elif keyword == keywords.START:
            phones = _opt_in(message, numbers, now)
        answer = answer_for(keyword, message.company_id)
        record_audit_event(
            actor=None,
            action=f"inbound_sms.{keyword}",
            obj=message,
            changes={
                "keyword": (None, keyword),
                "answer": (None, answer),
                "phones_changed": (0, phones),
                "messages_suppressed": (0, suppressed),
            },
        )
    return Reply(keyword=keyword, answer=answer, phones=phones, suppressed=suppressed)


def answer_for(keyword: str, company_id: int | None) -> str:
    """The text sent back for ``keyword`` on behalf of the company whose
    text was answered (None when the number was never texted by one: the
    answers then speak of "this number", and HELP gets the default help)."""
    if keyword == keywords.HELP:
        help_text = (
            ContactPolicy.objects.filter(company_id=company_id)
            .values_list("help_text", flat=True)
            .first()
            if company_id is not None
            else None
        )
        return help_text or ContactPolicy._meta.get_field("help_text").get_default()
    name = (
        Company.objects.filter(pk=company_id).values_list("name", flat=True).first()
        if company_id is not None
        else None
    )
    sender = name or "this number"
    if keyword == keywords.STOP:
        return (
            f"You are opted out of texts from {sender}. No more messages will be sent. "
            "Reply START to opt back in."
        )
    return f"You are opted back in to texts from {sender}. Reply STOP to opt out, HELP for help."


def _audit_companies(message: InboundMessage, debtor_ids: set[int]) -> dict[int, int | None]:
    """The company each debtor's phone change belongs to in the audit log:
    the company whose text was answered, when the debtor has an account
    there; else the owner of the debtor's first account (a phone of a debtor
    another company collects from); else the answered company. One query."""
    owners: dict[int, set[int]] = {}
    first: dict[int, int] = {}
    for debtor_id, company_id in (
        Account.objects.filter(debtor_id__in=debtor_ids)
        .order_by("pk")
        .values_list("debtor_id", "company_id")
    ):
        owners.setdefault(debtor_id, set()).add(company_id)
        first.setdefault(debtor_id, company_id)
    return {
        debtor_id: (
            message.company_id
            if message.company_id in owners.get(debtor_id, ())
            else first.get(debtor_id, message.company_id)
        )
        for debtor_id in debtor_ids
    }


def _note(message: InboundMessage) -> str:
    """The audit note of a phone row a reply changed: what came from where
    (the start of the text, the number, Twilio's MessageSid)."""
    return (
        f"The debtor texted {message.body[:60]!r} from {message.from_number} "
        f"({message.provider_id})."
    )


def _opt_out(message: InboundMessage, numbers: list[str], now) -> int:
    """Opt every phone row with one of ``numbers`` out of texts, under their
    row locks (a second STOP at the same moment waits and finds them opted
    out: the first date stays); each change audited. Returns how many."""
    rows = list(
        DebtorPhone.objects.select_for_update()
        .filter(number__in=numbers, sms_opted_out=False)
        .order_by("pk")
        .values_list("pk", "debtor_id", "sms_opted_out_at", "sms_opt_out_source")
    )
    if not rows:
        return 0
    DebtorPhone.objects.filter(pk__in=[pk for pk, *_ in rows]).update(
        sms_opted_out=True, sms_opted_out_at=now, sms_opt_out_source=STOP_SOURCE
    )
    companies = _audit_companies(message, {debtor_id for _, debtor_id, *_ in rows})
    note = _note(message)
    for pk, debtor_id, opted_out_at, source in rows:
        record_audit_event_about(
            actor=None,
            action="debtor_phone.sms_opted_out",
            object_type=DebtorPhone._meta.label_lower,
            object_id=pk,
            changes={
                "sms_opted_out": (False, True),
                "sms_opted_out_at": (opted_out_at, now),
                "sms_opt_out_source": (source, STOP_SOURCE),
                "inbound_message": (None, message.pk),
                "note": (None, note),
            },
            company_id=companies[debtor_id],
        )
    return len(rows)


def _opt_in(message: InboundMessage, numbers: list[str], now) -> int:
    """Opt every phone row with one of ``numbers`` back in to texts, with
    consent from now (``START_SOURCE``); rows already consented and not
    opted out keep their consent's date and source. Each change audited.
    Returns how many rows changed."""
    rows = list(
        DebtorPhone.objects.select_for_update()
        .filter(Q(sms_opted_out=True) | Q(sms_consent=False), number__in=numbers)
        .order_by("pk")
        .values_list(
            "pk", "debtor_id", "sms_opted_out", "sms_consent", "sms_consent_at",
            "sms_consent_source",
        )
    )  # fmt: skip
    if not rows:
        return 0
    DebtorPhone.objects.filter(pk__in=[pk for pk, *_ in rows]).update(
        sms_opted_out=False, sms_consent=True, sms_consent_at=now, sms_consent_source=START_SOURCE
    )
    companies = _audit_companies(message, {debtor_id for _, debtor_id, *_ in rows})
    note = _note(message)
    for pk, debtor_id, opted_out, consent, consent_at, source in rows:
        changes = {
            "sms_opted_out": (opted_out, False),
            "sms_consent": (consent, True),
            "sms_consent_at": (consent_at, now),
            "sms_consent_source": (source, START_SOURCE),
        }
        record_audit_event_about(
            actor=None,
            action="debtor_phone.sms_opted_in",
            object_type=DebtorPhone._meta.label_lower,
            object_id=pk,
            changes={
                **{k: v for k, v in changes.items() if v[0] != v[1]},
                "inbound_message": (None, message.pk),
                "note": (None, note),
            },
            company_id=companies[debtor_id],
        )
    return len(rows)


def _suppress_waiting(numbers: list[str], now) -> int:
    """Suppress every SMS to one of ``numbers`` still queued or held, of any
    company: the rows locked first (waiting for a dispatch worker that holds
    one in its take; PostgreSQL re-reads the state once the lock is free, so
    a message the worker made ``sending`` drops out), then one UPDATE of
    exactly those, still queued or held, and their events in one insert per
    thousand, as the dispatch's own moves do. Returns how many."""
    waiting = list(
        Message.objects.select_for_update()
        .filter(channel=Channel.SMS, to__in=numbers, state__in=SUPPRESSIBLE_STATES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not waiting:
        return 0
    Message.objects.filter(pk__in=waiting, state__in=SUPPRESSIBLE_STATES).update(
        state=MessageState.SUPPRESSED,
        state_changed_at=now,
        rule=RULE,
        reason=OPT_OUT_REASON,
    )
    MessageEvent.objects.bulk_create(
        (
            MessageEvent(
                message_id=pk, state=MessageState.SUPPRESSED, detail=OPT_OUT_REASON, occurred_at=now
            )
            for pk in waiting
        ),
        batch_size=EVENT_BATCH,
    )
    return len(waiting)
