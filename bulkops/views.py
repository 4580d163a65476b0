"""Bulk operation views: the action dialog and its confirmation, the
operations history with progress, the audit log. Thin: the engine and the
actions do the work. The export pages are ``bulkops.exports.views``."""

from __future__ import annotations

import csv
import uuid
from itertools import islice

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HTMX_STOP_POLLING, HttpResponseClientRedirect

from bulkops import selectors, services
from bulkops.filters import AuditFilter, ItemFilter, OperationFilter
from bulkops.models import BulkOperation
from bulkops.registry import extensions_of, get_action, get_selectable, label_of, wording_for
from bulkops.selection import Selection, current_selection, store_selection
from bulkops.services.selection_files import SelectionFileError, read_selection_file
from common.paging import paginate


def _warn_if_not_enqueued(request, operation, saved: str) -> None:
    """The task queue (Redis) is down: what was asked is committed all the
    same, and the beat's sweep sends it to a worker once the queue is back."""
    if operation.enqueued is False:
        messages.warning(request, f"The task queue cannot be reached right now: {saved}.")


# Outcome rows are named a batch at a time (one query for their names).
CSV_BATCH = 5000
AUDIT_COUNT_CAP = 10_000


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
        "confirm_label": action.confirm_label_for(request.user),
        **_nouns(action),
        **action.dialog_context(form),
    }
    return render(request, "bulkops/_dialog.html", context, status=status)


def _nouns(action) -> dict[str, str]:
    selectable = get_selectable(action.target)
    return {"noun": selectable.noun, "plural": selectable.plural}


@require_GET
@permission_required("bulkops.add_bulkoperation", raise_exception=True)
def action_dialog(request, key):
    """The dialog of one action, showing the exact number of accounts."""
    action = _action_or_404(request, key)
    return _dialog(request, action, state=request.GET.get("state", ""))


@require_POST
@permission_required("bulkops.add_bulkoperation", raise_exception=True)
def action_preview(request, key):
    """The verification step of an action that has one: what it would do,
    checked before the confirmation (which refuses what was not previewed)."""
    action = _action_or_404(request, key)
    if not action.preview_template:
        raise Http404("This action has no verification step.")
    state = request.POST.get("state", "")
    selection, _ = current_selection(request, action.target, QueryDict(state))
    count = selection.count(request.user)
    form = action.get_form(request.POST, user=request.user, selected_count=count)
    if not form.is_valid():
        return _dialog(request, action, state=state, form=form, count=count, status=422)
    carried = [
        (name, value)
        for name in request.POST
        if name not in ("csrfmiddlewaretoken", "preview_token", "confirmed_count")
        for value in request.POST.getlist(name)
    ] + [("confirmed_count", str(count))]
    context = {
        "action": action,
        "count": count,
        "state": state,
        "carried": carried,
        "preview_token": services.preview_token(
            action, count=count, parameters=action.all_parameters(form)
        ),
        "confirm_label": action.confirm_label_for(request.user),
        **_nouns(action),
        **action.preview_context(form, user=request.user, selection=selection),
    }
    return render(request, "bulkops/_preview.html", context)


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
    listing = paginate(request, filterset.qs.order_by("-created_at", "-pk"))
    for operation in listing.page:
        operation.action_label = label_of(operation.kind)
    return render(
        request,
        "bulkops/operation_list.html",
        {"filterset": filterset, "listing": listing, "page": listing.page},
    )


def _operation_or_404(request, pk) -> BulkOperation:
    return get_object_or_404(selectors.operations_visible_to(request.user), pk=pk)


@require_GET
@permission_required("bulkops.view_bulkoperation", raise_exception=True)
def operation_detail(request, pk):
    operation = _operation_or_404(request, pk)
    items = ItemFilter(request.GET, queryset=operation.items.with_settled_outcome())
    listing = paginate(request, items.qs.order_by("target_id"))
    page = listing.page
    page.object_list = selectors.with_processed_times(operation, page.object_list)
    selectable = selectors.selectable_of(operation)
    names = selectable.describe_rows([item.target_id for item in page]) if selectable else {}
    for item in page:
        item.row_name, item.row_url = names.get(item.target_id, (f"#{item.target_id}", ""))
    action = get_action(operation.kind)
    return render(
        request,
        "bulkops/operation_detail.html",
        {
            "operation": operation,
            "description": _description(operation),
            "items": items,
            "page": page,
            "listing": listing,
            "query": listing.query,
            "can_manage": request.user.has_perm("bulkops.cancel_bulkoperation"),
            "can_cancel": not operation.is_final and services.may_cancel(request.user, operation),
            "can_decide": operation.status == BulkOperation.Status.PENDING_APPROVAL
            and services.may_approve(request.user, operation),
            "can_undo": services.may_undo(request.user, operation),
            # Said instead of a button: what no inverse can take back (an
            # export downloaded, a message sent).
            "cannot_undo": operation.is_final and action is not None and not action.inverse,
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
            times = selectors.chunk_times(
                operation, [row[0] for row in batch if row[1] == "done" and row[3] is None]
            )
            for target_id, outcome, reason, processed_at in batch:
                name = names.get(target_id, (f"#{target_id}", ""))[0]
                processed_at = processed_at or times.get(target_id)
                processed = processed_at.isoformat() if processed_at else ""
                yield writer.writerow([name, outcome, reason, processed])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="bulk-operation-{operation.pk}.csv"'
    return response


@require_POST
@permission_required("bulkops.view_bulkoperation", raise_exception=True)
def operation_cancel(request, pk):
    """Cancel: at once for an operation that waits, before its next chunk for
    one that runs (the service checks who may)."""
    operation = _operation_or_404(request, pk)
    try:
        services.request_cancel(user=request.user, operation=operation)
        if operation.status == BulkOperation.Status.CANCELLED:
            messages.success(request, "Cancelled: it will not run.")
        else:
            messages.success(request, "Cancelling: the worker stops before its next chunk.")
            _warn_if_not_enqueued(
                request, operation, "the cancellation is saved and takes effect when it is back"
            )
    except services.OperationRefused as exc:
        messages.error(request, str(exc))
    return redirect("bulkops:operation-detail", pk=operation.pk)


@require_POST
@permission_required("bulkops.view_bulkoperation", raise_exception=True)
def operation_approve(request, pk):
    operation = _operation_or_404(request, pk)
    try:
        decided = services.approve(user=request.user, operation=operation)
        messages.success(
            request,
            "Approved: it is scheduled."
            if decided.status == BulkOperation.Status.SCHEDULED
            else "Approved: it starts now.",
        )
        _warn_if_not_enqueued(
            request, decided, "the approval is saved and the operation starts when it is back"
        )
    except services.OperationRefused as exc:
        messages.error(request, str(exc))
    return redirect("bulkops:operation-detail", pk=operation.pk)


@require_POST
@permission_required("bulkops.view_bulkoperation", raise_exception=True)
def operation_reject(request, pk):
    operation = _operation_or_404(request, pk)
    try:
        services.reject(
            user=request.user, operation=operation, reason=request.POST.get("reason", "")
        )
        messages.success(request, "Rejected: it will not run.")
    except services.OperationRefused as exc:
        messages.error(request, str(exc))
    return redirect("bulkops:operation-detail", pk=operation.pk)


@require_POST
@permission_required("bulkops.add_bulkoperation", raise_exception=True)
def operation_undo(request, pk):
    operation = _operation_or_404(request, pk)
    try:
        undo = services.start_undo(user=request.user, operation=operation)
    except services.OperationRefused as exc:
        messages.error(request, str(exc))
        return redirect("bulkops:operation-detail", pk=operation.pk)
    messages.success(request, f"Undoing #{operation.pk}.")
    _warn_if_not_enqueued(request, undo, "the undo is saved and starts by itself when it is back")
    return redirect("bulkops:operation-detail", pk=undo.pk)


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
    # Millions of events: the count stops at AUDIT_COUNT_CAP ("more than ...").
    listing = paginate(request, filterset.qs.order_by("-occurred_at", "-pk"), cap=AUDIT_COUNT_CAP)
    listing.page.object_list = selectors.with_object_links(
        selectors.with_readable_changes(listing.page.object_list)
    )
    return render(
        request,
        "bulkops/audit_log.html",
        {"filterset": filterset, "listing": listing, "page": listing.page},
    )


@require_POST
@login_required
def selection_file_upload(request, key):
    """ "Select from file": the rows an uploaded CSV names (file numbers for
    the accounts grid) become the list's filter ``file=<id>``, every one of
    them selected. A file that cannot be used is refused with the reason."""
    try:
        selectable = get_selectable(key)
    except LookupError:
        raise Http404("No such list.") from None
    if not selectable.find_rows or not selectable.url_name:
        raise Http404("This list takes no files.")
    if not request.user.has_perm(selectable.view_permission):
        raise PermissionDenied
    list_url = reverse(selectable.url_name)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, f"Choose a CSV file of {selectable.row_label}s to upload.")
        return redirect(list_url)
    try:
        selection_file = read_selection_file(
            user=request.user, selectable=selectable, upload=upload
        )
    except SelectionFileError as exc:
        messages.error(request, str(exc))
        state = request.POST.get("state", "")
        return redirect(f"{list_url}?{state}" if state else list_url)
    query = QueryDict(mutable=True)
    query["file"] = str(selection_file.pk)
    store_selection(request, Selection.for_filters(key, query).select_all())
    messages.success(request, _file_report(selectable, selection_file))
    return redirect(f"{list_url}?{query.urlencode()}")


def _file_report(selectable, selection_file) -> str:
    found = selection_file.found
    noun = selectable.noun if found == 1 else selectable.plural
    report = (
        f"“{selection_file.name}”: {selection_file.lines:,} {selectable.row_label}s read, "
        f"{found:,} {noun} found and selected."
    )
    if selection_file.not_found_count:
        shown = ", ".join(
            f"line {line:,} “{value}”" for line, value in selection_file.not_found[:10]
        )
        more = selection_file.not_found_count - min(10, len(selection_file.not_found))
        report += f" Not found or not yours ({selection_file.not_found_count:,}): {shown}"
        report += f" and {more:,} more." if more > 0 else "."
    return report


@require_http_methods(["GET", "POST"])
@permission_required("bulkops.view_bulkoperation", raise_exception=True)
def approvals(request):
    """Approvals: every operation of the company that waits for approval,
    whatever its action (message batches, large write-offs...), oldest
    first. Approve or reject several at once; each is decided by the same
    service as on its own page, so a requester never decides their own."""
    waiting = (
        selectors.operations_visible_to(request.user)
        .filter(status=BulkOperation.Status.PENDING_APPROVAL)
        .select_related("created_by")
        .order_by("created_at", "pk")
    )
    if request.method == "POST":
        ids = [int(v) for v in request.POST.getlist("operation") if v.isascii() and v.isdigit()][
            :500
        ]
        chosen = list(waiting.filter(pk__in=ids))
        decision = request.POST.get("decision")
        if not chosen:
            messages.error(request, "Tick the operations to approve or reject.")
        elif decision not in ("approve", "reject"):
            messages.error(request, "Choose Approve selected or Reject selected.")
        else:
            done, refused = 0, []
            for operation in chosen:
                try:
                    if decision == "approve":
                        services.approve(user=request.user, operation=operation)
                    else:
                        services.reject(
                            user=request.user,
                            operation=operation,
                            reason=request.POST.get("reason", ""),
                        )
                    done += 1
                except services.OperationRefused as exc:
                    refused.append(f"#{operation.pk}: {exc}")
            if done:
                word = "Approved" if decision == "approve" else "Rejected"
                messages.success(request, f"{word} {done} operation{'s' if done != 1 else ''}.")
            for line in refused:
                messages.error(request, line)
        return redirect("bulkops:approvals")
    rows = [
        {
            "operation": operation,
            "label": label_of(operation.kind),
            "description": _description(operation),
            "may_decide": services.may_approve(request.user, operation),
            "details": _approval_details(request, operation),
        }
        for operation in waiting[:200]
    ]
    return render(request, "bulkops/approvals.html", {"rows": rows})


def _approval_details(request, operation) -> str:
    """What the operation's action shows its approver (sample messages...)."""
    action = get_action(operation.kind)
    if action is None or not action.approval_template:
        return ""
    return render_to_string(
        action.approval_template,
        {"operation": operation, **action.approval_context(operation)},
        request=request,
    )


def _description(operation) -> str:
    return selectors.describe_operation(operation)
