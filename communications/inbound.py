"""Text messages debtors send to the company's number (Twilio's incoming
message webhook, ``communications.webhooks.twilio_inbound``), stored once
per Twilio MessageSid and matched to what they answer.

Reading STOP, START and HELP replies (opting the number out or back in) is
the contact-rules issue's: it reads them from ``InboundMessage``."""

from __future__ import annotations

from communications.models import Channel, InboundMessage, Message


def answered_message(from_number: str) -> Message | None:
    """The latest SMS sent to ``from_number``: what a reply from it answers.
    Only messages that reached Twilio count (``sent_at`` is set when Twilio
    took one; later states — delivered, undelivered, failed — keep it)."""
    return (
        Message.objects.filter(channel=Channel.SMS, to=from_number, sent_at__isnull=False)
        .order_by("-sent_at", "-pk")
        .first()
    )


def receive_sms(
    *, provider_id: str, from_number: str, to_number: str, body: str
) -> tuple[InboundMessage, bool]:
    """Store one incoming SMS, once per Twilio MessageSid (Twilio retries a
    webhook it did not see answered, so the same one may come again).
    Returns the stored message and whether it is new."""
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
