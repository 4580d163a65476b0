"""Credit Payments: the Assign To dialog's option to credit the accounts'
payments to the collector they are assigned to (seed 000, Assign To)."""

from __future__ import annotations

from collections import defaultdict

from django import forms

from accounts.models import User
from billing import services
from bulkops.registry import ActionExtension, register_extension

CHOICES = [("off", "Off"), ("all", "All"), ("pending", "Pending Only")]


class CreditPaymentsForm(forms.Form):
    credit_payments = forms.ChoiceField(
        label="Credit Payments", choices=CHOICES, initial="off", widget=forms.RadioSelect
    )


@register_extension
class CreditPayments(ActionExtension):
    key = "credit_payments"
    action = "assign"
    form_class = CreditPaymentsForm
    dialog_template = "billing/actions/_credit_payments.html"

    def describe(self, parameters):
        credit = parameters.get("credit_payments", "off")
        if credit == "off":
            return ""
        if credit == "all":
            return "crediting pending and posted payments"
        return "crediting pending payments"

    def apply(self, items, operation, outcomes):
        """The payments of the accounts the chunk assigned to a collector;
        accounts Assign To skipped or failed keep theirs where they are."""
        credit = operation.parameters.get("credit_payments", "off")
        if credit == "off":
            return
        not_assigned = set().union(*outcomes.skipped.values(), *outcomes.failed.values())
        by_collector: dict[int, list[int]] = defaultdict(list)
        for item in items:
            if item.argument and item.target_id not in not_assigned:
                by_collector[int(item.argument)].append(item.target_id)
        for collector_id, account_ids in by_collector.items():
            collector = User.objects.filter(pk=collector_id, is_active=True).first()
            if collector is None:  # Assign To failed these accounts already
                continue
            services.credit_payments(
                actor=operation.created_by,
                account_ids=account_ids,
                collector=collector,
                statuses=services.CREDITED_STATUSES[credit],
                bulk_operation=operation,
            )
