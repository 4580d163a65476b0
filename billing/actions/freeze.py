"""Bulk Freeze and Bulk Freeze Rollback (seed 001).

Bulk Freeze "sets the status of all the customers listed to frozen. A
dialog will open, allowing the user to specify a cancellation reason and
any desired notes. This action will freeze the customer's account,
including all the customer subscriptions."

Bulk Freeze Rollback acts on the list of frozen customers (the "frozen"
selectable, ``billing.selectable``): the customers picked there are
re-activated, each with what it had before its freeze."""

from __future__ import annotations

from django import forms

from accounts.models import AccountStatus
from accounts.selectors import configuration_usable_by, configuration_visible_to
from billing import freezes
from billing.models import CancellationReason
from bulkops.registry import BulkAction, Outcomes, register

GONE = "was deactivated after confirming"


class BulkFreezeForm(forms.Form):
    status = forms.ModelChoiceField(
        label="Frozen status",
        queryset=AccountStatus.objects.none(),
        error_messages={"invalid_choice": "That status is no longer available. Pick another."},
    )
    reason = forms.ModelChoiceField(
        label="Cancellation reason",
        queryset=CancellationReason.objects.none(),
        error_messages={
            "invalid_choice": "That cancellation reason is no longer available. Pick another."
        },
    )
    notes = forms.CharField(
        label="Notes", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        statuses = configuration_visible_to(user, AccountStatus).filter(
            is_active=True, category=AccountStatus.Category.FROZEN
        )
        self.fields["status"].queryset = statuses
        if not self.is_bound and statuses:
            self.initial.setdefault("status", statuses[0].pk)
        self.fields["reason"].queryset = configuration_visible_to(user, CancellationReason).filter(
            is_active=True
        )

    def clean_notes(self):
        return " ".join(self.cleaned_data["notes"].split())


class RollbackForm(forms.Form):
    """Nothing to choose: each customer gets back what it had."""

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)


@register
class BulkFreeze(BulkAction):
    key = "bulk_freeze"
    inverse = "bulk_freeze_undo"  # billing.actions.undo
    label = "Bulk Freeze"
    target = "accounts"
    group = "Money"
    permission = "billing.freeze_accounts"
    order = 80
    form_class = BulkFreezeForm
    chunk_size = 5000
    confirm_label = "Freeze"
    done_word = "frozen"
    grows = ("billing.AccountFreeze", "billing.SubscriptionFreeze")

    def parameters(self, form):
        status, reason = form.cleaned_data["status"], form.cleaned_data["reason"]
        return {
            "status": status.pk,
            "status_name": status.name,
            "reason": reason.pk,
            "reason_name": reason.name,
            "notes": form.cleaned_data["notes"],
        }

    def describe(self, parameters):
        return f"Bulk Freeze to {parameters['status_name']} ({parameters['reason_name']})"

    def apply(self, items, operation):
        ids = items.target_ids
        parameters = operation.parameters
        status = AccountStatus.objects.filter(pk=parameters["status"], is_active=True).first()
        reason = CancellationReason.objects.filter(pk=parameters["reason"], is_active=True).first()
        if status is None:
            return Outcomes.all_failed(ids, f"The status {parameters['status_name']} {GONE}.")
        if reason is None:
            return Outcomes.all_failed(ids, f"The reason {parameters['reason_name']} {GONE}.")
        user = operation.created_by
        if not (configuration_usable_by(user, status) and configuration_usable_by(user, reason)):
            return Outcomes.all_failed(ids, "The status or reason is another company's.")
        return freezes.freeze_accounts(
            actor=user,
            account_ids=ids,
            status=status,
            reason=reason,
            notes=parameters.get("notes", ""),
            bulk_operation=operation,
        )


@register
class BulkFreezeRollback(BulkAction):
    key = "bulk_freeze_rollback"
    label = "Rollback"
    target = "frozen"
    group = "Frozen"
    permission = "billing.freeze_accounts"
    order = 10
    form_class = RollbackForm
    chunk_size = 5000
    confirm_label = "Rollback"
    done_word = "re-activated"

    def describe(self, parameters):
        return "Bulk Freeze Rollback"

    def apply(self, items, operation):
        return freezes.roll_back_freezes(
            actor=operation.created_by, freeze_ids=items.target_ids, bulk_operation=operation
        )
