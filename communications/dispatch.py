"""Sending messages so that none is sent twice.

A message is taken for sending in one short transaction (``queued`` or
``held`` → ``sending``, after the gate) that commits before the provider is
called; the provider's answer is recorded in another. So:

* a worker that dies before the provider call leaves the message
  ``sending``, and one that dies after it, before the commit, too: either
  way nobody knows whether the provider has it. ``mark_lost_sendings``
  (beat) makes such a message ``unknown`` for a person to decide; it is
  never sent again by itself.
* an error that proves nothing was accepted (the server could not be
  reached; it refused the connection) puts the message back on hold for a
  retry; a permanent refusal fails it; any other error, whose fate cannot
  be known, makes it ``unknown``.
* an email carries the same Message-ID on every attempt.

Email goes through Django's email API, so the configured backend decides
how: an ESP through django-anymail, or SMTP. SMS and voice go through
Twilio's own client (``TWILIO_API_BASE`` points it at another server: a
loopback one in tests and in ``make run``), with a status callback when
``TWILIO_STATUS_CALLBACK_URL`` is set; without Twilio credentials SMS and
voice wait, queued."""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import socket

import requests
import urllib3
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone
from django.utils.html import escape
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from communications import gate, limiter
from communications.models import Channel, Message, MessageEvent, MessageState

logger = logging.getLogger(__name__)

RETRY_DELAYS = (60, 300, 900, 3600)  # seconds before attempts 2, 3, 4, 5


def dispatched_channels() -> tuple[str, ...]:
    """The channels this deployment can send: email always, SMS and voice
    once Twilio is configured."""
    if settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM_NUMBER:
        return (Channel.EMAIL, Channel.SMS, Channel.VOICE)
    return (Channel.EMAIL,)


class TransitionRefused(ValueError):
    """A state change ``TRANSITIONS`` does not allow (a late event, say)."""


def move(
    message: Message,
    state: str,
    *,
    detail: str = "",
    source: str = "",
    event_id: str = "",
    **fields,
) -> Message:
    """Change ``message`` to ``state`` (with ``fields``), recording the event
    (with the provider's ``source`` and ``event_id`` when a provider's event
    moved it). Call it inside a transaction that holds the message's row lock."""
    if not message.can_move_to(state):
        raise TransitionRefused(f"A {message.state} message cannot become {state}.")
    now = timezone.now()
    message.state = state
    message.state_changed_at = now
    for name, value in fields.items():
        setattr(message, name, value)
    message.save(update_fields=["state", "state_changed_at", *fields])
    MessageEvent.objects.create(
        message=message,
        state=state,
        detail=detail[:255],
        source=source,
        event_id=event_id,
        occurred_at=now,
    )
    return message


def take(message_id: int) -> Message | None:
    """Take a due message for sending, after the gate, and commit that; None
    when it is not due, taken by another worker, held or suppressed."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("account__office")
            .filter(
                pk=message_id,
                state__in=[MessageState.QUEUED, MessageState.HELD],
                send_after__lte=timezone.now(),
            )
            .first()
        )
        if message is None:
            return None
        decision = gate.check(message)
        if decision.action == gate.SUPPRESS:
            move(message, MessageState.SUPPRESSED, detail=decision.reason, rule=decision.rule,
                 reason=decision.reason)  # fmt: skip
            return None
        if decision.action == gate.DEFER:
            _hold(message, until=decision.until, rule=decision.rule, reason=decision.reason)
            return None
        office = message.account.office
        if (
            office is not None
            and not message.ignore_rate_limit
            and not limiter.take_slot(office.pk, message.channel, office.max_messages_per_minute)
        ):
            reason = (
                f"{office.name} sends at most {office.max_messages_per_minute} "
                f"{message.get_channel_display()} a minute; it goes in the next minute."
            )
            _hold(
                message, until=limiter.next_minute(timezone.now()), rule="rate_limit", reason=reason
            )
            return None
        return move(
            message, MessageState.SENDING, attempts=message.attempts + 1, rule="", reason=""
        )


def _hold(message: Message, *, until, rule: str, reason: str) -> None:
    """Hold ``message`` until ``until`` for ``rule``: a queued one becomes
    held; one already held just waits longer (no new event each time)."""
    if message.state == MessageState.HELD:
        message.send_after, message.rule, message.reason = until, rule, reason
        message.save(update_fields=["send_after", "rule", "reason"])
    else:
        move(message, MessageState.HELD, detail=reason, rule=rule, reason=reason, send_after=until)


def _deliver_email(message: Message) -> str:
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers={"Message-ID": message.message_id_header},
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    email.send()
    # An ESP through anymail reports its own id; SMTP has the Message-ID.
    status = getattr(email, "anymail_status", None)
    return (getattr(status, "message_id", None) or message.message_id_header)[:100]


def twilio_client() -> Client:
    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    if settings.TWILIO_API_BASE:
        client.api.base_url = settings.TWILIO_API_BASE
    return client


def _deliver_twilio(message: Message) -> str:
    callback = settings.TWILIO_STATUS_CALLBACK_URL or None
    client = twilio_client()
    if message.channel == Channel.SMS:
        sent = client.messages.create(
            to=message.to,
            from_=settings.TWILIO_FROM_NUMBER,
            body=message.text,
            status_callback=callback,
        )
    else:
        # The script is spoken with <Say>; escaped, so it is only ever text.
        twiml = f"<Response><Say>{escape(message.text)}</Say></Response>"
        sent = client.calls.create(
            to=message.to,
            from_=settings.TWILIO_FROM_NUMBER,
            twiml=twiml,
            status_callback=callback,
            status_callback_event=["completed"] if callback else None,
        )
    return sent.sid


def _deliver(message: Message) -> str:
    if message.channel == Channel.EMAIL:
        return _deliver_email(message)
    return _deliver_twilio(message)


class _Refused(Exception):
    """The provider answered and refused the message: a retry would not help."""


# Errors that prove the message was not accepted: safe to try again.
_NOT_ACCEPTED = (
    ConnectionRefusedError,
    smtplib.SMTPConnectError,
    socket.gaierror,
    requests.exceptions.ConnectTimeout,
)


def _never_sent(exc: Exception) -> bool:
    """Whether ``exc`` proves the request never reached the provider: no
    connection was made. A connection lost after the request went out
    proves nothing, and leaves the message unknown."""
    if isinstance(exc, _NOT_ACCEPTED):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


# Refusals that will not change on a retry.
_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, _Refused)


def send_message(message_id: int) -> str | None:
    """Send one message if it is due; returns the state it ended in (None
    when it was not taken)."""
    message = take(message_id)
    if message is None:
        return None
    try:
        try:
            provider_id = _deliver(message)
        except TwilioRestException as exc:
            # Twilio answered: a 4xx is a refusal (a bad number, say); a 5xx
            # leaves the message's fate unknown.
            if 400 <= (exc.status or 0) < 500:
                raise _Refused(f"Twilio {exc.status}: {exc.msg}") from exc
            raise
    except _REFUSED as exc:
        return _settle(message, MessageState.FAILED, error=f"Refused: {exc}"[:255])
    except Exception as exc:  # noqa: BLE001  (its fate is unknown unless proven unsent)
        if _never_sent(exc):
            return _retry_or_fail(message, f"Not accepted: {exc}")
        logger.warning("Message %s: unknown fate after %r", message.pk, exc)
        return _settle(message, MessageState.UNKNOWN, error=f"Unknown: {exc!r}"[:255])
    return _settle(message, MessageState.SENT, provider_id=provider_id, sent_at=timezone.now())


def _settle(message: Message, state: str, **fields) -> str:
    """Record the provider's answer. A message that stopped being this
    worker's meanwhile (``mark_lost_sendings`` made a slow send unknown)
    moves only where the table allows (unknown → sent); otherwise the answer
    is kept as an event that changed nothing, and the run goes on."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if not locked.can_move_to(state):
            MessageEvent.objects.create(
                message=locked,
                state=state,
                detail=(fields.get("error") or f"The provider's answer came late: {state}")[:255],
                applied=False,
            )
            return locked.state
        move(locked, state, detail=fields.get("error", ""), **fields)
    return state


def _retry_or_fail(message: Message, error: str) -> str:
    if message.attempts > len(RETRY_DELAYS):
        return _settle(message, MessageState.FAILED, error=error[:255])
    delay = RETRY_DELAYS[message.attempts - 1]
    return _settle(
        message,
        MessageState.HELD,
        error=error[:255],
        rule="provider",
        reason="Waiting to retry: the provider could not be reached.",
        send_after=timezone.now() + dt.timedelta(seconds=delay),
    )


def send_due_messages(limit: int = 500) -> int:
    """Send the due messages (queued, or held until now), oldest first;
    returns how many were taken."""
    due = (
        Message.objects.filter(
            state__in=[MessageState.QUEUED, MessageState.HELD],
            send_after__lte=timezone.now(),
            channel__in=dispatched_channels(),
        )
        .order_by("send_after", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(send_message(pk) is not None for pk in list(due))


def mark_lost_sendings() -> int:
    """Messages left ``sending`` by a worker that died: ``unknown``, for a
    person to decide (the provider may have them). Returns how many."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.MESSAGE_SENDING_TIMEOUT_SECONDS)
    lost = 0
    for pk in Message.objects.filter(
        state=MessageState.SENDING, state_changed_at__lt=cutoff
    ).values_list("pk", flat=True):
        with transaction.atomic():
            message = (
                Message.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, state=MessageState.SENDING, state_changed_at__lt=cutoff)
                .first()
            )
            if message is not None:
                move(message, MessageState.UNKNOWN, detail="The worker sending it was lost.",
                     error="The worker sending it was lost; it may have been sent.")  # fmt: skip
                lost += 1
    return lost
