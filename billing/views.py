"""Views of the billing app: Bulk Freeze Rollback's list of frozen
customers, and the bulk write-off file. Thin: parse, check permission, call a selector or service,
render."""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.selectors import account_for_page
from billing import freezes, journal, selectors, write_off_files
from billing.actions.add_fees import fee_verification_context
from billing.filters import FrozenFilter
from billing.models import FeeVerification, SubscriptionFreeze, WriteOffFile
from bulkops.exports import cells
from bulkops.selection import MAX_EXPLICIT_IDS, Selection, store_selection
from bulkops.services import OperationRefused

PAGE_SIZE = 50
ROLLBACK = "bulk_freeze_rollback"


def _back(request):
    """Back to the list as the user left it (its filters and page); from
    htmx (the "Rollback selected" form, which opens the dialog), a full
    page load, so the message shows on the list and not in the dialog."""
    state = request.POST.get("state", "")
    url = reverse("billing:frozen")
    url = f"{url}?{state}" if state else url
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@permission_required("billing.freeze_accounts", raise_exception=True)
def frozen_list(request):
    filterset = FrozenFilter.for_user(request.user, request.GET)
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    filters = request.GET.copy()
    filters.pop("page", None)
    state = request.GET.copy()
    return render(
        request,
        "billing/frozen/list.html",
        {
            "filterset": filterset,
            "page": page,
            "rows": selectors.frozen_page(page.object_list),
            "state": state.urlencode(),
            "filter_query": filters.urlencode(),
        },
    )


@require_POST
@permission_required("billing.freeze_accounts", raise_exception=True)
def frozen_select(request):
    """ "Rollback selected": the ticked customers (or every one the filters
    match) become the list's selection, and the engine's dialog for the
    rollback opens on it, showing the exact count."""
    state = QueryDict(request.POST.get("state", ""))
    selection = Selection.for_filters("frozen", state)
    if request.POST.get("all") == "1":
        selection = selection.select_all()
    else:
        raw = request.POST.getlist("freeze")
        if not all(value.isascii() and value.isdigit() for value in raw):
            messages.error(request, "The selection could not be read; select the rows again.")
            return _back(request)
        ids = {int(value) for value in raw}
        if len(ids) > MAX_EXPLICIT_IDS:
            messages.error(request, f"Pick at most {MAX_EXPLICIT_IDS:,} customers one by one.")
            return _back(request)
        selection = Selection("frozen", filters=selection.filters, ids=frozenset(ids))
    if selection.is_empty:
        messages.error(request, "Select the customers to roll back first.")
        return _back(request)
    store_selection(request, selection)
    query = urlencode({"state": request.POST.get("state", "")})
    return redirect(f"{reverse('bulkops:action-dialog', args=[ROLLBACK])}?{query}")


@require_POST
@permission_required("billing.freeze_accounts", raise_exception=True)
def freeze_rollback(request, pk):
    """One customer's Rollback button: re-activated at once."""
    freeze = get_object_or_404(selectors.freezes_visible_to(request.user), pk=pk)
    outcomes = freezes.roll_back_freezes(actor=request.user, freeze_ids=[freeze.pk])
    refused = [reason for reason, ids in outcomes.skipped.items() if ids]
    if refused:
        messages.error(request, f"{freeze.account.file_number}: {refused[0]}")
    else:
        messages.success(request, f"{freeze.account.file_number} is re-activated.")
    return _back(request)


@require_POST
@permission_required("billing.freeze_accounts", raise_exception=True)
def subscription_rollback(request, pk):
    """One subscription's Rollback button: that subscription re-activated,
    the customer left frozen."""
    row = get_object_or_404(
        SubscriptionFreeze.objects.select_related("subscription", "freeze__account").filter(
            freeze__in=selectors.freezes_visible_to(request.user)
        ),
        pk=pk,
    )
    try:
        freezes.roll_back_subscription(actor=request.user, subscription_freeze=row)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(
            request,
            f"{row.subscription.service_name} of {row.freeze.account.file_number} is re-activated.",
        )
    return _back(request)


# --- the bulk write-off file (seed 002) -----------------------------------------------


def _own_file_or_404(request, pk):
    return get_object_or_404(WriteOffFile.objects.filter(uploaded_by=request.user), pk=pk)


@require_http_methods(["GET", "POST"])
@permission_required("billing.write_off_balances", raise_exception=True)
def write_off_file_upload(request):
    """Upload a .txt or .csv file of account IDs; its preview follows."""
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = "Choose a .txt or .csv file of account IDs to upload."
        else:
            try:
                written = write_off_files.preview_write_off_file(user=request.user, upload=upload)
            except write_off_files.WriteOffFileError as exc:
                error = str(exc)
            else:
                return redirect("billing:write-off-file", pk=written.pk)
    return render(
        request,
        "billing/write_off_file/upload.html",
        {"error": error, "max_entries": write_off_files.MAX_ENTRIES},
        status=400 if error else 200,
    )


@require_GET
@permission_required("billing.write_off_balances", raise_exception=True)
def write_off_file_preview(request, pk):
    written = _own_file_or_404(request, pk)
    rows = list(write_off_files.preview_rows(written))
    return render(
        request,
        "billing/write_off_file/preview.html",
        {
            "file": written,
            "rows": rows,
            "ineligible": [row for row in rows if row.reason],
            "operation": written.bulk_operation,
        },
    )


@require_POST
@permission_required("billing.write_off_balances", raise_exception=True)
def write_off_file_save(request, pk):
    """Save: the bulk operation over the file's eligible accounts."""
    written = _own_file_or_404(request, pk)
    note = request.POST.get("note", "")[:200]
    try:
        operation = write_off_files.save_write_off_file(
            user=request.user, written=written, note=note
        )
    except OperationRefused as exc:
        messages.error(request, str(exc))
        return redirect("billing:write-off-file", pk=written.pk)
    return redirect("bulkops:operation-detail", pk=operation.pk)


# --- Add Fees' verification, paged and sorted ------------------------------------------


@require_GET
@permission_required("billing.add_fees", raise_exception=True)
def fee_verification_rows(request, pk):
    """A page of the user's own verification (the dialog's table)."""
    verification = get_object_or_404(FeeVerification.objects.filter(owner=request.user), pk=pk)
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    context = fee_verification_context(verification, page=page, sort=request.GET.get("sort", "fee"))
    return render(request, "billing/actions/_fees_table.html", context)


# --- the Journal tab's Download CSV -------------------------------------------------


class _Echo:
    def write(self, value):
        return value


_JOURNAL_HEADER = [
    ("Date", cells.DATETIME),
    ("Claim ID", cells.TEXT),
    ("Product", cells.TEXT),
    ("Payment method", cells.TEXT),
    ("Context", cells.TEXT),
    ("Kind", cells.TEXT),
    ("Description", cells.TEXT),
    ("Amount", cells.MONEY),
    ("Running balance", cells.MONEY),
]
_JOURNAL_KEYS = [
    "posted_at", "claim", "product", "method", "context", "kind", "description", "amount",
    "running",
]  # fmt: skip


@require_GET
@permission_required("billing.view_ledgerentry", raise_exception=True)
def journal_csv(request, pk):
    """Every entry the Journal tab's filters match, in its order, streamed
    (a server-side cursor, a row at a time), cells escaped as exports are
    (a text that a spreadsheet would run as a formula is quoted)."""
    account = account_for_page(request.user, pk)
    if account is None:
        raise Http404("No such account.")
    filters = journal.parse_filters(request.GET, journal.options(account))
    writer = csv.writer(_Echo())

    def stream():
        yield writer.writerow([label for label, _ in _JOURNAL_HEADER])
        for row in journal.journal_rows(account, filters):
            yield writer.writerow(
                [
                    cells.csv_cell(cells.raw_value(row[key], kind), kind)
                    for key, (_, kind) in zip(_JOURNAL_KEYS, _JOURNAL_HEADER, strict=True)
                ]
            )

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="journal-{account.file_number}.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
