"""Write Off Balances (seed 001): "eliminate the existing customer balances
by adding a coupon to the customer account equal to the customer balance"."""

from __future__ import annotations

from django import forms

from billing import services
from bulkops.registry import BulkAction, register


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


@register
class WriteOffBalances(BulkAction):
    key = "write_off"
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
