"""Write Off Balances (seed 001): "eliminate the existing customer balances
by adding a coupon to the customer account equal to the customer balance"."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from accounts.models import Account
from billing import selectors, services
from billing.write_off_files import eligibility
from bulkops.registry import BulkAction, Outcomes, register


class WriteOffForm(forms.Form):
    note = forms.CharField(
        label="Notes",
        required=False,
        max_length=200,
        help_text="Optional; shown on each coupon in the account's journal.",
    )

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)

    def clean_note(self):
        return " ".join(self.cleaned_data["note"].split())


class ApprovedAboveTheLimit:
    """Maker-checker: a write-off of more than the company's limit in total
    (``BillingPolicy.approval_above``) waits in Approvals for a second
    person who may write off; its requester never approves it."""

    approval_permission = "billing.write_off_balances"

    def approval_needed(self, user, parameters, count, *, operation):
        limit = selectors.approval_limit(operation.company_id)
        if limit is None:
            return ""
        total = selectors.positive_balance_total(operation.items.values("target_id"))
        if total <= limit:
            return ""
        return (
            f"It writes off ${total:,.2f}, more than the ${limit:,.2f} your company writes "
            "off without a second person's approval."
        )


@register
class WriteOffBalances(ApprovedAboveTheLimit, BulkAction):
    key = "write_off"
    inverse = "write_off_undo"  # billing.actions.undo
    label = "Write Off Balances"
    target = "accounts"
    group = "Money"
    permission = "billing.write_off_balances"
    order = 60
    form_class = WriteOffForm
    dialog_template = "billing/actions/_write_off.html"
    chunk_size = 2000
    confirm_label = "Write off"
    done_word = "written off"

    def describe(self, parameters):
        note = parameters.get("note")
        return f"Write Off Balances ({note})" if note else "Write Off Balances"

    def apply(self, items, operation):
        return services.write_off_balances(
            actor=operation.created_by,
            account_ids=items.target_ids,
            bulk_operation=operation,
            note=operation.parameters.get("note", ""),
        )


class WriteOffFileForm(forms.Form):
    """What Save on a write-off file's preview carries: the file, and notes."""

    file = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    note = forms.CharField(label="Notes", required=False, max_length=200)

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)

    def clean_note(self):
        return " ".join(self.cleaned_data["note"].split())


@register
class WriteOffFromFile(ApprovedAboveTheLimit, BulkAction):
    """The bulk write-off file's operation (seed 002): started from the
    file's preview, never from the grid's toolbar. Each account is checked
    again when its chunk runs: one that left its default state or was
    terminated since the preview fails with the reason."""

    key = "write_off_file"
    inverse = "write_off_file_undo"  # billing.actions.undo
    label = "Bulk Write-off"
    target = "accounts"
    group = "Money"
    in_toolbar = False
    permission = "billing.write_off_balances"
    form_class = WriteOffFileForm
    chunk_size = 2000
    confirm_label = "Save"
    done_word = "written off"

    def describe(self, parameters):
        return "Bulk Write-off from a file"

    def apply(self, items, operation):
        outcomes = Outcomes()
        today = timezone.localdate()
        eligible = []
        for account in Account.objects.filter(pk__any=items.target_ids).select_related("status"):
            reason = eligibility(account, today)
            if reason:
                outcomes.fail([account.pk], reason)
            else:
                eligible.append(account.pk)
        if eligible:
            outcomes.merge(
                services.write_off_balances(
                    actor=operation.created_by,
                    account_ids=eligible,
                    bulk_operation=operation,
                    note=operation.parameters.get("note", ""),
                )
            )
        return outcomes
