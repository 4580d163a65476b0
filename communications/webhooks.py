"""Provider callbacks. Twilio's status callbacks and incoming messages are
authenticated by their signature (Twilio's own RequestValidator over the URL
and the posted fields, with the account's auth token): a missing or bad
signature gets 403 and changes nothing. Events arrive out of order and more
than once; each is stored on its message, and a message never moves back
from a final state.

The ESP's delivery events come through django-anymail's tracking webhook
views (``esp_tracking_urlpatterns``, under ``/anymail/``), which check the
basic auth of ``ANYMAIL_WEBHOOK_SECRET`` and send anymail's ``tracking``
signal; ``communications.delivery`` records them."""

from __future__ import annotations

import functools
import logging

from anymail import urls as anymail_urls
from anymail.utils import get_anymail_setting
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.urls import URLPattern
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from communications import inbound
from communications.dispatch import move
from communications.models import Message, MessageEvent, MessageState

logger = logging.getLogger(__name__)

# Twilio's message and call statuses that decide something; the others
# (queued, sending, ringing, in-progress, ...) are stored as events only.
TWILIO_STATES = {
    "sent": MessageState.SENT,
    "delivered": MessageState.DELIVERED,
    "read": MessageState.DELIVERED,
    "undelivered": MessageState.UNDELIVERED,
    "failed": MessageState.FAILED,
    "completed": MessageState.DELIVERED,  # a call that was answered
    "busy": MessageState.UNDELIVERED,
    "no-answer": MessageState.UNDELIVERED,
    "canceled": MessageState.UNDELIVERED,
}


def _signed_by_twilio(request, url: str) -> bool:
    """Whether Twilio signed this request to ``url`` (the URL as Twilio
    requested it) with the account's auth token."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not settings.TWILIO_AUTH_TOKEN:
        return False
    params = {key: request.POST.get(key) for key in request.POST}
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, params, signature)


@csrf_exempt  # authenticated by Twilio's signature instead
@login_not_required
@require_POST
def twilio_status(request):
    if not _signed_by_twilio(
        request, settings.TWILIO_STATUS_CALLBACK_URL or request.build_absolute_uri()
    ):
        return HttpResponseForbidden("Bad or missing signature.")
    sid = request.POST.get("MessageSid") or request.POST.get("CallSid") or ""
    status = (request.POST.get("MessageStatus") or request.POST.get("CallStatus") or "").lower()
    error = request.POST.get("ErrorCode", "")
    with transaction.atomic():
        message = (
            Message.objects.select_for_update().filter(provider_id=sid[:100]).first()
            if sid
            else None
        )
        if message is None:
            # Not ours, or reported before the send was recorded (the answer
            # to the send will record it): nothing to change.
            logger.info("Twilio status %r for unknown sid %r", status, sid)
            return HttpResponse(status=204)
        detail = f"Twilio: {status}" + (f" (error {error})" if error else "")
        state = TWILIO_STATES.get(status)
        if state is not None and message.can_move_to(state):
            fields = (
                {"error": f"Twilio error {error}"}
                if error and state != MessageState.DELIVERED
                else {}
            )
            move(message, state, detail=detail, **fields)
        else:
            # A status that decides nothing, or one that arrived late or twice.
            MessageEvent.objects.create(
                message=message,
                state=state or message.state,
                detail=detail[:255],
                applied=False,
            )
    return HttpResponse(status=204)


@csrf_exempt  # authenticated by Twilio's signature instead
@login_not_required
@require_POST
def twilio_inbound(request):
    """Twilio's incoming-message webhook (the number's "A message comes in"
    URL, ``<public URL>/communications/twilio/inbound/``). A forged, missing
    or other account's signature gets 403 and changes nothing. A signed SMS
    is stored once per MessageSid and, the first time, acted on
    (``inbound.handle_incoming_sms``): a STOP opts the number out and
    suppresses what waits for it, START opts it back in, HELP changes
    nothing. The answer is TwiML: for a keyword, one text back (the STOP
    confirmation, the START one, or the company's help text); for anything
    else, and for a MessageSid Twilio sends again, an empty ``<Response/>``,
    so a retried webhook never sends a second confirmation. (Twilio's own
    opt-out handling may answer the standard keywords as well; it also
    blocks texts to a number that sent STOP, ours included.)"""
    if not _signed_by_twilio(request, request.build_absolute_uri()):
        return HttpResponseForbidden("Bad or missing signature.")
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
    if not sid:
        return HttpResponseBadRequest("No MessageSid.")
    received = inbound.handle_incoming_sms(
        provider_id=sid[:100],
        from_number=request.POST.get("From", ""),
        to_number=request.POST.get("To", ""),
        body=request.POST.get("Body", ""),
    )
    response = MessagingResponse()
    if received.reply is not None:
        response.message(received.reply.answer)
    return HttpResponse(str(response), content_type="text/xml")


def _with_webhook_secret(view):
    """Anymail accepts webhooks from anyone (with a warning) when no secret
    is set; here an ESP webhook without ``ANYMAIL_WEBHOOK_SECRET`` is refused."""

    @functools.wraps(view)
    def guarded(request, *args, **kwargs):
        if not get_anymail_setting("webhook_secret", default=None):
            return HttpResponseForbidden(
                "ESP webhooks are refused: ANYMAIL_WEBHOOK_SECRET is not set."
            )
        return view(request, *args, **kwargs)

    return guarded


# Anymail's tracking webhook of every ESP it supports
# (``/anymail/<esp>/tracking/``, named ``anymail:<esp>_tracking_webhook``),
# each refused while no webhook secret is set. Its inbound email webhooks are
# left out: nothing here receives email.
esp_tracking_urlpatterns = [
    URLPattern(pattern.pattern, _with_webhook_secret(pattern.callback), pattern.default_args,
               pattern.name)
    for pattern in anymail_urls.urlpatterns
    if pattern.name and pattern.name.endswith("_tracking_webhook")
]  # fmt: skip
