"""Bulk operation views: the action dialog and its confirmation, the
operations history with progress, the audit log. Thin: the engine and the
actions do the work. The export pages are ``bulkops.exports.views``."""

from __future__ import annotations

import csv
import uuid
from itertools import islice

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HTMX_STOP_POLLING, HttpResponseClientRedirect

from bulkops import selectors, services
from bulkops.filters import AuditFilter, ItemFilter, OperationFilter
from bulkops.models import BulkOperation
from bulkops.registry import extensions_of, get_action, wording_for
from bulkops.selection import current_selection


def _warn_if_not_enqueued(request, operation, saved: str) -> None:
    """The task queue (Redis) is down: what was asked is committed all the
    same, and the beat's sweep sends it to a worker once the queue is back."""
    if operation.enqueued is False:
        messages.warning(request, f"The task queue cannot be reached right now: {saved}.")


# Outcome rows are named a batch at a time (one query for their names).
CSV_BATCH = 5000


def batched(iterable, size):
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


def _action_or_404(request, key):
    action = get_action(key)
    if action is None:
        raise Http404("No such bulk action.")
    if not request.user.has_perm(action.permission):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(f"You do not have permission to run “{action.label}”.")
    return action


def _dialog(request, action, *, state: str, form=None, count=None, notice=None, status=200):
    selection, dropped = current_selection(request, action.target, QueryDict(state))
    if count is None:
        count = selection.count(request.user)
    if form is None:
        form = action.get_form(user=request.user, selected_count=count)
    context = {
        "action": action,
        "form": form,
        # The generic fields template renders the action's own fields; an
        # extension's fields are rendered by the extension's template.
        "own_fields": [form[name] for name in action.form_class.base_fields],
        "extension_templates": [e.dialog_template for e in extensions_of(action.key)],
        "count": count,
        "state": state,
        "notice": notice or dropped,
        "idempotency_key": uuid.uuid4().hex,
        **action.dialog_context(form),
    }
    return render(request, "bulkops/_dialog.html", context, status=status)


@require_GET
@permission_required("bulkops.add_bulkoperation", raise_exception=True)
def action_dialog(request, key):
    """The dialog of one action, showing the exact number of accounts."""
    action = _action_or_404(request, key)
    return _dialog(request, action, state=request.GET.get("state", ""))


@require_POST
@permission_required("bulkops.add_bulkoperation", raise_exception=True)
def action_confirm(request, key):
    action = _action_or_404(request, key)
    state = request.POST.get("state", "")
    selection, _ = current_selection(request, action.target, QueryDict(state))
    try:
        confirmed = int(request.POST.get("confirmed_count", ""))
    except ValueError:
        return _dialog(
            request,
            action,
            state=state,
            notice="This dialog is out of date; check the number and confirm again.",
        )
    try:
        operation = services.start_operation(
            user=request.user,
            action_key=key,
            selection=selection,
            confirmed_count=confirmed,
            data=request.POST,
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
    except services.InvalidParameters as exc:
        return _dialog(request, action, state=state, form=exc.form, count=confirmed, status=422)
    except services.CountChanged as exc:
        form = action.get_form(request.POST, user=request.user, selected_count=exc.current)
        return _dialog(
            request, action, state=state, form=form, count=exc.current, notice=str(exc), status=409
        )
    except services.OperationRefused as exc:
        return _dialog(request, action, state=state, notice=str(exc), status=409)
    _warn_if_not_enqueued(
        request, operation, "the operation is saved and starts by itself when it is back"
    )
    url = reverse("bulkops:operation-detail", args=[operation.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@require_GET
@permission_required("bulkops.view_bulkoperation", raise_exception=True)
def operation_list(request):
    filterset = OperationFilter(
        request.GET, queryset=selectors.operations_visible_to(request.user), user=request.user
    )
    page = Paginator(filterset.qs.order_by("-created_at", "-pk"), 50).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "bulkops/operation_list.html",
        {"filterset": filterset, "page": page, "query": query.urlencode()},
    )


def _operation_or_404(request, pk) -> BulkOperation:
    return get_object_or_404(selectors.operations_visible_to(request.user), pk=pk)


@require_GET
@permission_required("bulkops.view_bulkoperation", raise_exception=True)
def operation_detail(request, pk):
    operation = _operation_or_404(request, pk)
    items = ItemFilter(request.GET, queryset=operation.items.with_settled_outcome())
    page = Paginator(items.qs.order_by("target_id"), 50).get_page(request.GET.get("page"))
    selectable = selectors.selectable_of(operation)
    names = selectable.describe_rows([item.target_id for item in page]) if selectable else {}
    for item in page:
        item.row_name, item.row_url = names.get(item.target_id, (f"#{item.target_id}", ""))
    action = get_action(operation.kind)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "bulkops/operation_detail.html",
        {
            "operation": operation,
            "description": action.full_description(operation.parameters)
            if action
            else operation.kind,
            "items": items,
            "page": page,
            "query": query.urlencode(),
            "can_manage": request.user.has_perm("bulkops.cancel_bulkoperation"),
            "wording": wording_for(action),
            "row_label": selectable.row_label if selectable else "Row",
        },
    )


@require_GET
@permission_required("bulkops.view_bulkoperation", raise_exception=True)
def operation_progress(request, pk):
    """The progress bar fragment, polled by htmx every second while the
    operation runs; the final state stops the polling (286)."""
    operation = _operation_or_404(request, pk)
    context = {"operation": operation, "wording": wording_for(get_action(operation.kind))}
    response = render(request, "bulkops/_progress.html", context)
    if not operation.is_active:
        response.status_code = HTMX_STOP_POLLING
        if request.htmx:
            # The page around the bar (outcomes, Cancel) was rendered while it
            # ran: reload it once to show the final state.
            response["HX-Refresh"] = "true"
    return response


@require_GET
@permission_required("bulkops.view_bulkoperation", raise_exception=True)
def operation_items_csv(request, pk):
    operation = _operation_or_404(request, pk)
    items = ItemFilter(request.GET, queryset=operation.items.with_settled_outcome()).qs
    rows = items.order_by("target_id").values_list(
        "target_id", "settled_outcome", "reason", "processed_at"
    )
    selectable = selectors.selectable_of(operation)

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())

    def stream():
        yield writer.writerow(
            [selectable.row_label if selectable else "Row", "Outcome", "Reason", "Processed At"]
        )
        for batch in batched(rows.iterator(chunk_size=CSV_BATCH), CSV_BATCH):
            names = selectable.describe_rows([row[0] for row in batch]) if selectable else {}
            for target_id, outcome, reason, processed_at in batch:
                name = names.get(target_id, (f"#{target_id}", ""))[0]
                processed = processed_at.isoformat() if processed_at else ""
                yield writer.writerow([name, outcome, reason, processed])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="bulk-operation-{operation.pk}.csv"'
    return response


@require_POST
@permission_required("bulkops.cancel_bulkoperation", raise_exception=True)
def operation_cancel(request, pk):
    operation = _operation_or_404(request, pk)
    try:
        services.request_cancel(user=request.user, operation=operation)
        messages.success(request, "Cancelling: the worker stops before its next chunk.")
        _warn_if_not_enqueued(
            request, operation, "the cancellation is saved and takes effect when it is back"
        )
    except services.OperationRefused as exc:
        messages.error(request, str(exc))
    return redirect("bulkops:operation-detail", pk=operation.pk)


@require_POST
@permission_required("bulkops.cancel_bulkoperation", raise_exception=True)
def operation_retry(request, pk):
    operation = _operation_or_404(request, pk)
    try:
        count = services.retry_failed(user=request.user, operation=operation)
        messages.success(request, f"Retrying {count:,} failed account(s).")
        _warn_if_not_enqueued(
            request, operation, "the retry is saved and starts by itself when it is back"
        )
    except services.OperationRefused as exc:
        messages.error(request, str(exc))
    return redirect("bulkops:operation-detail", pk=operation.pk)


@require_GET
@permission_required("bulkops.view_auditevent", raise_exception=True)
def audit_log(request):
    filterset = AuditFilter(
        request.GET, queryset=selectors.audit_events_visible_to(request.user), user=request.user
    )
    page = Paginator(filterset.qs.order_by("-occurred_at", "-pk"), 50).get_page(
        request.GET.get("page")
    )
    page.object_list = selectors.with_readable_changes(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "bulkops/audit_log.html",
        {"filterset": filterset, "page": page, "query": query.urlencode()},
    )
