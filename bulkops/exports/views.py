"""The export pages: the Export dialog's fields refilled from a picked
template (htmx), “Save as template”, the templates page with share and
delete, and the download. Thin: the export action's catalogue and
``bulkops.exports.templates`` do the work. Which export a page serves is
its ``action`` parameter (an export action's key), else the one export
action there is."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from bulkops import selectors, services
from bulkops.exports import templates
from bulkops.exports.action import ExportAction, export_action
from bulkops.exports.downloads import Download, download_state


def _export_action_or_404(request) -> ExportAction:
    action = export_action(request.GET.get("action") or request.POST.get("action"))
    if action is None:
        raise Http404("No such export.")
    if not request.user.has_perm(action.permission):
        raise PermissionDenied(f"You do not have permission to run “{action.label}”.")
    return action


def _export_fields(request, action, form, *, notice=None, level="success", status=200):
    return render(
        request,
        action.dialog_template,
        {"action": action, "form": form, "export_notice": notice, "export_notice_level": level},
        status=status,
    )


@require_GET
def export_fields(request):
    """The Export dialog's fields, filled from the picked template (htmx)."""
    action = _export_action_or_404(request)
    raw = request.GET.get("template", "")
    template = None
    if raw:
        template = (
            templates.templates_visible_to(request.user).filter(pk=raw).first()
            if raw.isdigit()
            else None
        )
        if template is None:
            return _export_fields(
                request,
                action,
                action.form_class(user=request.user),
                notice="That template no longer exists or is not shared with you. Pick another.",
                level="danger",
            )
    form = action.form_class(user=request.user, template=template)
    return _export_fields(request, action, form)


@require_POST
def export_template_save(request):
    """“Save as template” in the Export dialog: the dialog's format, columns
    and masks under a name (the user's template of that name is replaced)."""
    action = _export_action_or_404(request)
    data = request.POST.copy()
    data.pop("template", None)  # the template picked only filled the form
    form = action.form_class(data, user=request.user)
    if not form.is_valid_as_template():
        return _export_fields(
            request, action, form, notice="The template was not saved.", level="danger", status=422
        )
    template, created = templates.save_template(
        user=request.user,
        name=form.cleaned_data["template_name"],
        file_format=form.cleaned_data["format"],
        columns=form.template_columns(),
        shared=form.cleaned_data["template_shared"],
    )
    return _export_fields(
        request,
        action,
        action.form_class(user=request.user, template=template),
        notice=f"Template “{template.name}” {'saved' if created else 'updated'}.",
    )


@require_GET
def export_templates(request):
    action = _export_action_or_404(request)
    available = action.catalogue.columns(request.user)
    rows = []
    for template in templates.templates_visible_to(request.user):
        columns = []
        for entry in template.columns if isinstance(template.columns, list) else []:
            key = entry.get("key") if isinstance(entry, dict) else str(entry)
            column = available.get(key)
            columns.append(
                {
                    "key": key,
                    "label": column.label if column else key,
                    "mask": bool(column and column.sensitive and entry.get("mask")),
                    "missing": column is None,
                }
            )
        rows.append({"template": template, "columns": columns})
    return render(request, "bulkops/export_templates.html", {"rows": rows})


def _template_or_404(request, pk):
    return get_object_or_404(templates.templates_visible_to(request.user), pk=pk)


@require_POST
def export_template_share(request, pk):
    _export_action_or_404(request)
    template = _template_or_404(request, pk)
    template = templates.share_template(
        user=request.user, template=template, shared=not template.shared
    )
    state = "shared with your company" if template.shared else "private"
    messages.success(request, f"Template “{template.name}” is now {state}.")
    return redirect("bulkops:export-templates")


@require_POST
def export_template_delete(request, pk):
    _export_action_or_404(request)
    template = _template_or_404(request, pk)
    templates.delete_template(user=request.user, template=template)
    messages.success(request, f"Template “{template.name}” deleted.")
    return redirect("bulkops:export-templates")


@require_GET
def export_download(request, pk):
    """The export's file, streamed from storage, to its creator and Admins,
    until the link expires. Every download is audited."""
    operation = get_object_or_404(selectors.operations_visible_to(request.user), pk=pk)
    download = download_state(request.user, operation)
    handle = None
    if download.status == "ready":
        try:
            handle = default_storage.open(download.file.name, "rb")
        except FileNotFoundError:
            download = Download("expired", "The file is no longer available.")
    if handle is None:
        return render(
            request,
            "bulkops/export_unavailable.html",
            {"operation": operation, "message": download.message},
            status=download.http_status,
        )
    services.record_audit_event(
        actor=request.user,
        action="export.downloaded",
        obj=operation,
        changes={"file": (None, download.file.name)},
        bulk_operation=operation,
    )
    return FileResponse(
        handle,
        as_attachment=True,
        filename=download.filename,
        content_type=download.content_type,
    )
