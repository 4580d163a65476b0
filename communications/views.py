"""Templates pages (nav: Templates): the list, the editor with the
placeholders list and a live length and segment count for SMS, and a
preview with a chosen account. Thin: ``services`` saves, ``rendering``
renders."""

from __future__ import annotations

from csp.decorators import csp_exempt
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import accounts_visible_to
from common.paging import paginate
from communications import rendering, services, sms
from communications.forms import TemplateFilter, TemplateForm
from communications.models import Channel
from communications.placeholders import PLACEHOLDERS, example_values, values_for
from communications.selectors import templates_visible_to


@require_GET
@permission_required("communications.view_messagetemplate", raise_exception=True)
def template_list(request):
    templates = templates_visible_to(request.user)
    filters = TemplateFilter(request.GET)
    if filters.is_valid():
        for field in ("channel", "locale"):
            if filters.cleaned_data[field]:
                templates = templates.filter(**{field: filters.cleaned_data[field]})
    listing = paginate(request, templates.order_by("channel", "name", "locale", "pk"))
    return render(
        request,
        "communications/template_list.html",
        {"listing": listing, "filters": filters, "channels": Channel.choices},
    )


@require_http_methods(["GET", "POST"])
@permission_required("communications.add_messagetemplate", raise_exception=True)
def template_create(request, channel):
    if channel not in Channel.values:
        raise Http404("No such channel.")
    return _editor(request, channel=channel, template=None)


@require_http_methods(["GET", "POST"])
@permission_required("communications.view_messagetemplate", raise_exception=True)
def template_edit(request, pk):
    template = get_object_or_404(templates_visible_to(request.user), pk=pk)
    if request.method == "POST" and not request.user.has_perm(
        "communications.change_messagetemplate"
    ):
        raise PermissionDenied("You may not change templates.")
    return _editor(request, channel=template.channel, template=template)


def _editor(request, *, channel, template):
    form = TemplateForm(
        request.POST if request.method == "POST" else None, channel=channel, template=template
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_template(
                user=request.user, template=template, channel=channel, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Template “{saved.name}” saved (version {saved.version}).")
            return redirect("communications:template-edit", pk=saved.pk)
    return render(
        request,
        "communications/template_form.html",
        {
            "form": form,
            "template": template,
            "channel": channel,
            "channel_label": Channel(channel).label,
            "placeholders": [
                p for p in PLACEHOLDERS if channel == Channel.EMAIL or not p.email_only
            ],
            "measure": _measure(
                form["body"].value() or "",
                # After a refused save the field's errors say it; not twice.
                with_problems=not form.errors.get("body"),
            )
            if channel == Channel.SMS
            else None,
            "may_change": request.user.has_perm(
                "communications.change_messagetemplate"
                if template
                else "communications.add_messagetemplate"
            ),
        },
    )


def _measure(body: str, *, with_problems: bool = True) -> dict:
    """The SMS body's length and segments with the placeholders' examples
    filled in, and its problems, for the editor."""
    problems = rendering.problems(body, email=False)
    rendered = rendering.render(body, example_values()) if not problems else body
    return {
        "measure": sms.measure(rendered),
        "problems": problems if with_problems else [],
        "limit": sms.MAX_CHARACTERS,
    }


@require_POST
@permission_required("communications.view_messagetemplate", raise_exception=True)
def sms_measure(request):
    """The editor's live count (htmx): length, encoding and segments."""
    return render(
        request, "communications/_sms_measure.html", _measure(request.POST.get("body", "")[:5000])
    )


def _preview_values(request):
    """The values for a preview: the chosen account's (by file number, among
    the accounts the user may see), else the placeholders' examples."""
    file_number = request.GET.get("file_number", "").strip().upper()[:20]
    account, notice = None, None
    if file_number:
        account = (
            accounts_visible_to(request.user)
            .select_related("debtor", "creditor", "assigned_to", "company")
            .filter(file_number=file_number)
            .first()
        )
        if account is None:
            notice = f"No account “{file_number}” that you can see; showing the examples."
    if account is not None:
        values = values_for(
            {
                "account": account,
                "debtor": account.debtor,
                "claim": account.claims.filter(balance__gt=0).order_by("due_date", "pk").first(),
                "company": account.company,
                "collector": account.assigned_to,
                "opt_out_link": request.build_absolute_uri("/"),
            }
        )
    else:
        values = example_values()
    return values, account, file_number, notice


@require_GET
@permission_required("communications.view_messagetemplate", raise_exception=True)
def template_preview(request, pk):
    """The template rendered for a chosen account, else with the examples."""
    template = get_object_or_404(templates_visible_to(request.user), pk=pk)
    values, account, file_number, notice = _preview_values(request)
    parts = {}
    for field in template.content_fields:
        parts[field] = rendering.render(getattr(template, field), values, html=field == "html_body")
    measure = sms.measure(parts["body"]) if template.channel == Channel.SMS else None
    return render(
        request,
        "communications/template_preview.html",
        {
            "template": template,
            "parts": parts,
            "account": account,
            "file_number": file_number,
            "notice": notice,
            "measure": measure,
            "limit": sms.MAX_CHARACTERS,
        },
    )


HTML_PREVIEW_POLICY = rendering.HTML_FRAME_POLICY


@require_GET
@permission_required("communications.view_messagetemplate", raise_exception=True)
@xframe_options_sameorigin
@csp_exempt()
def template_preview_html(request, pk):
    template = get_object_or_404(templates_visible_to(request.user), pk=pk)
    if template.channel != Channel.EMAIL:
        raise Http404("Only an email has an HTML body.")
    values = _preview_values(request)[0]
    response = HttpResponse(rendering.render(template.html_body, values, html=True))
    response["Content-Security-Policy"] = HTML_PREVIEW_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    return response
