"""Provider callbacks. Twilio's status callbacks are authenticated by their
signature (Twilio's own RequestValidator over the URL and the posted
fields, with the account's auth token): a missing or bad signature gets 403
and changes nothing. Events arrive out of order and more than once; each is
stored on its message, and a message never moves back from a final state."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

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


def _signed_by_twilio(request) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not settings.TWILIO_AUTH_TOKEN:
        return False
    url = settings.TWILIO_STATUS_CALLBACK_URL or request.build_absolute_uri()
    params = {key: request.POST.get(key) for key in request.POST}
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, params, signature)


@csrf_exempt  # authenticated by Twilio's signature instead
@login_not_required
@require_POST
def twilio_status(request):
    if not _signed_by_twilio(request):
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
