"""The contact rules' configuration in the settings (Django admin): a
company's weekly caps and HELP answer (``ContactPolicy``), and the states'
own call limits (``StateCallLimit``: the platform's for everyone, a
company's own replacing the platform's for a state). A company's Admin sees
and changes only its own company's; the platform operator manages the
platform's rows. Every save and delete is audited."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from accounts.states import STATE_CHOICES
from bulkops.admin import OwnCompanyAdmin
from common.admin_forms import OwnCompanyRowForm
from communications.models import ContactPolicy, StateCallLimit


@admin.register(ContactPolicy)
class ContactPolicyAdmin(OwnCompanyAdmin):
    list_display = ["company", "max_emails_per_week", "max_texts_per_week"]

    def has_add_permission(self, request):
        # One policy a company: a company's Admin adds theirs once.
        if not request.user.is_superuser and (
            ContactPolicy.objects.filter(company_id=request.user.company_id).exists()
        ):
            return False
        return super().has_add_permission(request)


class StateCallLimitForm(OwnCompanyRowForm):
    state = forms.ChoiceField(choices=STATE_CHOICES)

    class Meta:
        model = StateCallLimit
        fields = ["company", "state", "max_calls", "days"]

    def clean(self):
        cleaned = super().clean()
        if "company" in self.fields:
            company_id = cleaned["company"].pk if cleaned.get("company") else None
        else:
            company_id = self.instance.company_id
        same = StateCallLimit.objects.filter(company_id=company_id, state=cleaned.get("state"))
        if self.instance.pk is not None:
            same = same.exclude(pk=self.instance.pk)
        if cleaned.get("state") and same.exists():
            self.add_error("state", "This state has a limit of its own already.")
        if cleaned.get("days") == 0:
            self.add_error("days", "A limit counts over at least one day.")
        return cleaned


@admin.register(StateCallLimit)
class StateCallLimitAdmin(OwnCompanyAdmin):
    form = StateCallLimitForm
    list_display = ["state", "max_calls", "days", "company"]
    list_filter = ["state"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.admin_user = request.user  # a new class each call
        return form
