"""Create promise to pay (the account page's Actions dropdown, seed 004)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.selectors import account_for_page
from billing import promises
from billing.models import Claim, PaymentMethod
from common.forms import DATE, BootstrapForm, add_service_errors


class PromiseForm(BootstrapForm):
    claim = forms.ModelChoiceField(label="Claim reference", queryset=Claim.objects.none())
    amount = forms.DecimalField(label="Amount", max_digits=14, decimal_places=2, min_value=0.01)
    payment_method = forms.ModelChoiceField(
        label="Payment method (optional)", queryset=PaymentMethod.objects.none(), required=False
    )
    due_date = forms.DateField(label="Due date", widget=DATE)

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["claim"].queryset = Claim.objects.filter(account=account).order_by("due_date")
        self.fields["claim"].label_from_instance = lambda c: (
            f"{c.reference} (balance {c.balance:,.2f})"
        )
        self.fields["payment_method"].queryset = PaymentMethod.objects.filter(account=account)


@require_http_methods(["GET", "POST"])
@permission_required(promises.PERMISSION, raise_exception=True)
def create_promise(request, pk):
    account = account_for_page(request.user, pk)
    if account is None:
        raise Http404("No such account.")
    form = PromiseForm(request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        try:
            promise = promises.create_promise(
                actor=request.user, account=account, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, f"Promise to pay {promise.amount:,.2f} by {promise.due_date} recorded."
            )
            return redirect(reverse("accounts:detail", args=[account.pk]))
    return render(
        request,
        "accounts/work/form_page.html",
        {
            "account": account,
            "form": form,
            "title": "Create promise to pay",
            "submit": "Create",
            "testid": "promise-form",
        },
    )
