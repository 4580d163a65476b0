"""Messages pages (nav: Messages): the company's message batches, a batch
with its counts and its messages (paged, filtered, as CSV; Cancel), one
message with its events, and the decision on an unknown message. Thin:
``selectors`` read, ``services`` write."""

from __future__ import annotations

import csv
import uuid

from csp.decorators import csp_exempt
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HTMX_STOP_POLLING

from accounts.selectors import account_for_page
from bulkops.exports.cells import escape_formula
from bulkops.registry import get_action
from bulkops.selection import Selection
from bulkops.selectors import describe_operation
from bulkops.services import OperationRefused, preview_token, start_operation
from common.paging import paginate
from communications import rendering, selectors, services, sms
from communications.actions.base import check_messages, now_for_input
from communications.filters import BatchFilter, BatchMessageFilter, ignored_filters
from communications.models import Channel, MessageState
from communications.placeholders import PLACEHOLDERS

VIEW = "communications.view_message"
SEND = "communications.process_messages"
CSV_CHUNK = 2000


@require_GET
@permission_required(VIEW, raise_exception=True)
def batch_list(request):
    """The company's message batches, newest first, with their messages'
    counts per state (one query for the page)."""
    filterset = BatchFilter(
        request.GET, queryset=selectors.batches_visible_to(request.user), user=request.user
    )
    listing = paginate(request, filterset.qs.order_by("-created_at", "-pk"))
    operations = list(listing.page)
    counts = selectors.state_counts_by_batch([operation.pk for operation in operations])
    rows = []
    for operation in operations:
        state_counts, channels = counts[operation.pk]
        channel = selectors.batch_channel(operation)
        channels = channels or ([channel] if channel else [])
        rows.append(
            {
                "operation": operation,
                "description": describe_operation(operation),
                "send_at": selectors.batch_send_time(operation),
                "counts": state_counts,
                "channels": [Channel(c).label for c in channels if c in Channel.values],
            }
        )
    return render(
        request,
        "communications/batch_list.html",
        {
            "filterset": filterset,
            "listing": listing,
            "rows": rows,
            "notices": ignored_filters(filterset),
        },
    )


def _batch_or_404(request, pk):
    return get_object_or_404(selectors.batches_visible_to(request.user), pk=pk)


def _counts_context(operation) -> dict:
    counts = selectors.batch_state_counts(operation)
    return {
        "operation": operation,
        "counts": counts,
        "rules": selectors.batch_rule_counts(operation),
        # Refreshed while a message is on its way or the batch still queues some.
        "polling": bool(counts.pending) or operation.is_active,
    }


@require_GET
@permission_required(VIEW, raise_exception=True)
def batch_detail(request, pk):
    operation = _batch_or_404(request, pk)
    filterset = BatchMessageFilter(request.GET, queryset=selectors.batch_messages(operation))
    listing = paginate(request, filterset.qs.select_related("account").order_by("pk"), per_page=50)
    context = _counts_context(operation)
    counts = context["counts"]
    may_cancel = services.may_cancel_batch(request.user, operation)
    return render(
        request,
        "communications/batch_detail.html",
        {
            **context,
            "description": describe_operation(operation),
            "send_at": selectors.batch_send_time(operation),
            "filterset": filterset,
            "listing": listing,
            "notices": ignored_filters(filterset),
            "may_cancel": may_cancel and (counts.cancellable or not operation.is_final),
            "states": MessageState.choices,
        },
    )


@require_GET
@permission_required(VIEW, raise_exception=True)
def batch_counts(request, pk):
    """The batch's counts (htmx), polled while a message is on its way; once
    none is, the answer stops the polling (286)."""
    operation = _batch_or_404(request, pk)
    context = _counts_context(operation)
    response = render(request, "communications/_batch_counts.html", context)
    if not context["polling"]:
        response.status_code = HTMX_STOP_POLLING
    return response


CSV_HEADER = [
    "ID",
    "File Number",
    "Channel",
    "Recipient",
    "State",
    "Rule",
    "Reason",
    "Provider ID",
    "Error",
    "Sent At",
    "Last Change",
]


class _Echo:
    def write(self, value):
        return value


def _when(value) -> str:
    return timezone.localtime(value).isoformat() if value else ""


@require_GET
@permission_required(VIEW, raise_exception=True)
def batch_csv(request, pk):
    """The batch's messages matching the page's filter, streamed; a cell a
    spreadsheet would run as a formula is made inert."""
    operation = _batch_or_404(request, pk)
    filterset = BatchMessageFilter(request.GET, queryset=selectors.batch_messages(operation))
    rows = filterset.qs.order_by("pk").values_list(
        "pk",
        "account__file_number",
        "channel",
        "to",
        "state",
        "rule",
        "reason",
        "provider_id",
        "error",
        "sent_at",
        "state_changed_at",
    )
    channels, states = dict(Channel.choices), dict(MessageState.choices)
    writer = csv.writer(_Echo())
    unmasked = request.user.has_perm("accounts.view_unmasked_data")

    def stream():
        yield writer.writerow(CSV_HEADER)
        for (
            pk,
            file_number,
            channel,
            to,
            state,
            rule,
            reason,
            provider_id,
            error,
            sent_at,
            changed,
        ) in rows.iterator(chunk_size=CSV_CHUNK):
            texts = [
                file_number or "",
                channels.get(channel, channel),
                selectors.recipient_as_seen(to, unmasked),
                states.get(state, state),
            ]
            texts += [rule, reason, provider_id, error]
            yield writer.writerow(
                [
                    pk,
                    *(escape_formula(text or "") for text in texts),
                    _when(sent_at),
                    _when(changed),
                ]
            )

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="message-batch-{operation.pk}.csv"'
    return response


@require_POST
@permission_required(VIEW, raise_exception=True)
def batch_cancel(request, pk):
    """Cancel what of the batch is not sent yet (the service checks who may)."""
    operation = _batch_or_404(request, pk)
    cancelled = services.cancel_batch(user=request.user, operation=operation)
    if cancelled:
        messages.success(
            request,
            f"Cancelled {cancelled:,} message{'s' if cancelled != 1 else ''} not sent yet; "
            "messages already sent are unchanged.",
        )
    else:
        messages.info(
            request,
            "Nothing to cancel: no message of this batch is waiting to be sent any more "
            "(already cancelled, sent or being sent).",
        )
    url = reverse("messages:batch", args=[operation.pk])
    # Back to the page's filter, re-encoded: whatever was posted, only a query string.
    back = QueryDict(request.POST.get("query", "")[:2000]).urlencode()
    return redirect(f"{url}?{back}" if back else url)


def _message_or_404(request, pk):
    return get_object_or_404(
        selectors.messages_visible_to(request.user).select_related(
            "account", "bulk_operation", "created_by", "template_version__template"
        ),
        pk=pk,
    )


@require_GET
@permission_required(VIEW, raise_exception=True)
def message_detail(request, pk):
    message = _message_or_404(request, pk)
    operation = message.bulk_operation
    return render(
        request,
        "communications/message_detail.html",
        {
            "message": message,
            "events": selectors.message_events(message),
            "operation": operation,
            "description": describe_operation(operation) if operation else "",
            "may_decide": message.state == MessageState.UNKNOWN and request.user.has_perm(SEND),
        },
    )


@require_GET
@permission_required(VIEW, raise_exception=True)
@xframe_options_sameorigin
@csp_exempt()
def message_html(request, pk):
    """The email's HTML body as it was sent, for the sandboxed frame of its
    page only."""
    message = _message_or_404(request, pk)
    if message.channel != Channel.EMAIL or not message.html:
        raise Http404("This message has no HTML body.")
    response = HttpResponse(message.html)
    response["Content-Security-Policy"] = rendering.HTML_FRAME_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@permission_required(VIEW, raise_exception=True)
def message_decide(request, pk):
    """Mark as sent, or Send again, an unknown message (with a note)."""
    message = _message_or_404(request, pk)
    decision = request.POST.get("decision", "")
    try:
        services.decide_unknown_message(
            user=request.user,
            message=message,
            decision=decision,
            note=request.POST.get("note", "")[:5000],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            "Marked as sent." if decision == "sent" else "Queued to be sent again.",
        )
    return redirect("messages:message", pk=message.pk)


# --- Send debtor email / Send debtor SMS (the account page's Actions) ----------------------

DEBTOR_CHANNELS = {"email": Channel.EMAIL, "sms": Channel.SMS}
SEND_ACTION = "send_debtor_message"


@require_http_methods(["GET", "POST"])
@permission_required("communications.schedule_messages", raise_exception=True)
def send_debtor_message(request, pk, channel):
    """Fill in, check, then send one message to the account's debtor: the
    form, a check page with the message as the debtor will get it, then the
    engine's confirmation (so the same gate, rate limit, states and
    approval as a batch; a double click sends once)."""
    account = account_for_page(request.user, pk)
    if account is None or channel not in DEBTOR_CHANNELS:
        raise Http404("No such account.")
    action = get_action(SEND_ACTION)
    noun = "Email" if channel == "email" else "SMS"
    data = request.POST.copy() if request.method == "POST" else None
    if data is not None:
        data["channel"] = DEBTOR_CHANNELS[channel]  # the page's channel, whatever was posted
        if channel == "email":
            data["source"] = "template"  # an email is a design, its free text {{customBody}}
    form = action.form_class(
        data,
        user=request.user,
        account=account,
        initial={"channel": DEBTOR_CHANNELS[channel], "send_at": now_for_input()},
        auto_id="send_%s",
    )
    context = {
        "account": account,
        "channel": channel,
        "noun": noun,
        "form": form,
        "placeholders": PLACEHOLDERS,
        "sms_limit": sms.MAX_CHARACTERS,
        "confirm_label": action.confirm_label_for(request.user),
    }
    if data is None or not form.is_valid():
        return render(request, "communications/send_debtor_message.html", context)
    parameters = action.all_parameters(form)
    selection = Selection("accounts", ids=frozenset([account.pk]))
    if request.POST.get("step") != "send":
        check = check_messages(action, parameters, user=request.user, selection=selection)
        context.update(
            check=check,
            carried=[
                (name, value)
                for name in data
                for value in data.getlist(name)
                if name not in ("csrfmiddlewaretoken", "step", "preview_token")
            ],
            preview_token=preview_token(action, count=1, parameters=parameters),
            idempotency_key=uuid.uuid4().hex,
        )
        return render(request, "communications/send_debtor_check.html", context)
    try:
        operation = start_operation(
            user=request.user,
            action_key=SEND_ACTION,
            selection=selection,
            confirmed_count=1,
            data=data,
            idempotency_key=data.get("idempotency_key", ""),
        )
    except OperationRefused as refused:
        messages.error(request, f"Nothing was sent: {refused}")
        return render(request, "communications/send_debtor_message.html", context)
    if operation.status == operation.Status.PENDING_APPROVAL:
        messages.success(request, f"The {noun} waits for a supervisor's approval.")
    else:
        messages.success(request, f"The {noun} is queued; its state shows under Messages.")
    return redirect("accounts:detail", pk=account.pk)
