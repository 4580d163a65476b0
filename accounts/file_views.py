"""The Files tab's views: upload (several files at once; JSON for the
page's script, a redirect without it), download (released files only,
always as an attachment), and an admin's deletion. Thin: the checks are
``accounts.files``'."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import files, selectors

MAX_FILES_A_POST = 20


def _files_tab(account) -> str:
    return reverse("accounts:detail", args=[account.pk]) + "?tab=files"


@require_POST
@permission_required(files.UPLOAD_PERMISSION, raise_exception=True)
def upload(request, pk):
    account = selectors.account_for_page(request.user, pk)
    if account is None:
        raise Http404("No such account.")
    uploads = request.FILES.getlist("files")
    results = []
    if not uploads:
        results.append({"name": "", "ok": False, "message": "Choose a file to upload."})
    for uploaded in uploads[:MAX_FILES_A_POST]:
        try:
            held = files.upload(actor=request.user, account=account, uploaded=uploaded)
        except ValidationError as error:
            results.append(
                {
                    "name": files.safe_name(uploaded.name),
                    "ok": False,
                    "message": " ".join(error.messages),
                }
            )
        else:
            results.append(
                {
                    "name": held.name,
                    "ok": True,
                    "message": f"{held.name}: in quarantine until the virus scan says it is clean.",
                }
            )
    if len(uploads) > MAX_FILES_A_POST:
        results.append(
            {
                "name": "",
                "ok": False,
                "message": f"At most {MAX_FILES_A_POST} files at once: the rest were not uploaded.",
            }
        )
    if request.headers.get("Accept", "").startswith("application/json"):
        status = 200 if any(r["ok"] for r in results) else 400
        return JsonResponse({"results": results}, status=status)
    for result in results:
        (messages.success if result["ok"] else messages.error)(request, result["message"])
    return redirect(_files_tab(account))


@require_GET
@permission_required("accounts.view_accountfile", raise_exception=True)
def download(request, public_id):
    held = get_object_or_404(
        files.files_visible_to(request.user).select_related("account"), public_id=public_id
    )
    try:
        stream = files.open_for_download(actor=request.user, held=held)
    except PermissionDenied as refusal:
        raise Http404(str(refusal)) from None
    response = FileResponse(
        stream, as_attachment=True, filename=held.name, content_type=held.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@permission_required(files.QUARANTINE_PERMISSION, raise_exception=True)
def delete(request, public_id):
    held = get_object_or_404(
        files.files_visible_to(request.user).select_related("account"), public_id=public_id
    )
    files.delete_file(actor=request.user, held=held)
    messages.success(request, f"{held.name} deleted.")
    return redirect(_files_tab(held.account))
