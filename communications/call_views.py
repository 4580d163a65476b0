"""Call Now's page: the debtor's number to call and the collector's own
(where Twilio rings first), then the call or the rule that refused it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.masking import mask_phone
from accounts.selectors import account_for_page
from common.forms import BootstrapForm, add_service_errors
from communications import calls


class CallNowForm(BootstrapForm):
    phone = forms.TypedChoiceField(label="Debtor's number", coerce=int)
    your_number = forms.CharField(
        label="Your phone", max_length=20, help_text="Twilio rings it first, then the debtor."
    )

    def __init__(self, *args, user, account, **kwargs):
        super().__init__(*args, **kwargs)
        unmasked = user.has_perm("accounts.view_unmasked_data")
        self.fields["phone"].choices = [
            (
                p.pk,
                f"{p.number if unmasked else mask_phone(p.number)} ({p.get_phone_type_display()})",
            )
            for p in account.debtor.phones.exclude(validity="invalid").order_by("-is_primary", "pk")
        ]
        self.fields["your_number"].initial = user.phone


@require_http_methods(["GET", "POST"])
@permission_required(calls.PERMISSION, raise_exception=True)
def call_now(request, pk):
    account = account_for_page(request.user, pk)
    if account is None:
        raise Http404("No such account.")
    form = CallNowForm(request.POST or None, user=request.user, account=account)
    if request.method == "POST" and form.is_valid():
        try:
            calls.call_now(
                actor=request.user,
                account=account,
                phone_id=form.cleaned_data["phone"],
                collector_number=form.cleaned_data["your_number"].strip(),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except calls.CallRefused as refused:
            form.add_error(None, f"The call was not placed: {refused.reason}")
        else:
            messages.success(request, "Calling your phone now; answer it to reach the debtor.")
            return redirect(reverse("accounts:detail", args=[account.pk]))
    return render(
        request,
        "accounts/work/form_page.html",
        {
            "account": account,
            "form": form,
            "title": "Call Now",
            "submit": "Call",
            "testid": "call-form",
        },
    )
