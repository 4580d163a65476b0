"""Delivery events from the email provider, as django-anymail reports them.

Anymail's tracking webhook views (``/anymail/<esp>/tracking/``) check the
webhook's HTTP basic auth (``ANYMAIL_WEBHOOK_SECRET``) and turn the ESP's
payload into normalised ``AnymailTrackingEvent``s, sent on its ``tracking``
signal; ``on_tracking`` (connected in ``CommunicationsConfig.ready``) records
each one here. An event is matched to its message by the ESP's message id
(``Message.provider_id``, recorded from ``anymail_status.message_id`` when it
was sent) or else by our Message-ID header, ``<message-<pk>@MESSAGE_ID_DOMAIN>``.

ESPs deliver events more than once and out of order: each is stored once
(``MessageEvent`` with source "esp" and the ESP's event id, unique), and a
message moves only where ``TRANSITIONS`` allows, so a late "deferred" or
"bounced" after "delivered" is kept, not applied, and moves nothing back."""

from __future__ import annotations

import hashlib
import json
import logging
import re

from anymail.signals import AnymailTrackingEvent, EventType
from django.conf import settings
from django.db import IntegrityError, transaction

from communications import optout
from communications.dispatch import move
from communications.models import Channel, Message, MessageEvent, MessageState

logger = logging.getLogger(__name__)

SOURCE = "esp"

# Anymail's event types that decide a message's state. The others are
# stored as events only: queued and deferred (the ESP is still trying), sent,
# opened, clicked, autoresponded, complained and unsubscribed. An unsubscribe
# or a complaint is kept on the message ("<ESP>: unsubscribed") and opts the
# address out (``communications.optout``): the debtor said so to their mailbox.
OPTING_OUT = frozenset({EventType.UNSUBSCRIBED, EventType.COMPLAINED})
ESP_STATES = {
    EventType.DELIVERED: MessageState.DELIVERED,
    EventType.BOUNCED: MessageState.BOUNCED,
    EventType.REJECTED: MessageState.FAILED,
    EventType.FAILED: MessageState.FAILED,
}

APPLIED, STORED, DUPLICATE, UNKNOWN = "applied", "stored", "duplicate", "unknown"


def on_tracking(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    """Receiver of ``anymail.signals.tracking``."""
    record_tracking_event(event=event, esp_name=esp_name)


def event_key(event: AnymailTrackingEvent, esp_name: str) -> str:
    """The event's identity: the ESP's own event id, or, for an ESP that
    gives none for some events (Postmark's deliveries), a digest of the
    payload, which a repeated delivery of the event repeats exactly."""
    if event.event_id and len(str(event.event_id)) <= 100:
        return str(event.event_id)
    payload = json.dumps(
        {"esp": esp_name, "id": event.event_id, "event": event.esp_event},
        sort_keys=True,
        default=str,
    )
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


_OUR_MESSAGE_ID = re.compile(r"^<?message-(?P<pk>\d+)@(?P<domain>[^>\s]+)>?$")


def _locked_message(message_id: str | None) -> Message | None:
    """The email the ESP's ``message_id`` names, row-locked: by the id the
    ESP gave when it took it, or else by our own Message-ID header."""
    if not message_id:
        return None
    message_id = str(message_id).strip()
    emails = Message.objects.select_for_update().filter(channel=Channel.EMAIL)
    message = emails.filter(provider_id=message_id[:100]).order_by("-pk").first()
    if message is None:
        ours = _OUR_MESSAGE_ID.match(message_id)
        if ours and ours["domain"].lower() == settings.MESSAGE_ID_DOMAIN.lower():
            message = emails.filter(pk=int(ours["pk"])).first()
    return message


def _detail(event: AnymailTrackingEvent, esp_name: str) -> str:
    why = event.description or event.mta_response or event.reject_reason or ""
    if why == event.event_type:
        why = ""
    return (f"{esp_name}: {event.event_type}" + (f" ({why})" if why else ""))[:255]


def record_tracking_event(*, event: AnymailTrackingEvent, esp_name: str) -> str:
    """Store ``event`` on its message once, moving the message when the event
    decides its state and the transition table allows it. Returns what
    happened: applied, stored (kept without a change), duplicate (seen
    before: nothing changes) or unknown (not one of our messages)."""
    key = event_key(event, esp_name)
    try:
        with transaction.atomic():
            message = _locked_message(event.message_id)
            if message is None:
                logger.info(
                    "%s %s event for unknown message %r", esp_name, event.event_type,
                    event.message_id,
                )  # fmt: skip
                return UNKNOWN
            if MessageEvent.objects.filter(source=SOURCE, event_id=key).exists():
                return DUPLICATE
            detail = _detail(event, esp_name)
            state = ESP_STATES.get(event.event_type)
            # A message being sent is the sending worker's to settle: an event
            # found by its Message-ID before the answer was recorded waits.
            if (
                state is not None
                and message.state != MessageState.SENDING
                and message.can_move_to(state)
            ):
                fields = {"error": detail} if state != MessageState.DELIVERED else {}
                move(message, state, detail=detail, source=SOURCE, event_id=key, **fields)
                return APPLIED
            if event.event_type in OPTING_OUT:
                optout.record_email_opt_out(message=message, source=detail)
            # Decides nothing, or arrived late or out of order.
            MessageEvent.objects.create(
                message=message,
                state=state or message.state,
                detail=detail,
                applied=False,
                source=SOURCE,
                event_id=key,
            )
            return STORED
    except IntegrityError:
        # The same event, stored meanwhile by a concurrent delivery of it.
        return DUPLICATE
