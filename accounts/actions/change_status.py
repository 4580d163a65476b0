"""Change Status To (seed 000, "Change Status"): one status for every
selected account; terminated accounts keep theirs."""

from __future__ import annotations

from django import forms

from accounts import selectors, services
from accounts.models import AccountStatus
from bulkops.registry import BulkAction, Outcomes, register

NOT_YOURS = "The status is another company's: not one the operation's creator may use."


class ChangeStatusForm(forms.Form):
    status = forms.ModelChoiceField(
        label="New status",
        queryset=AccountStatus.objects.none(),
        error_messages={
            "invalid_choice": "That status is no longer available (it may have been "
            "deactivated). Pick another."
        },
    )

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The defaults and the user's company's own statuses.
        self.fields["status"].queryset = selectors.configuration_visible_to(
            user, AccountStatus
        ).filter(is_active=True)


@register
class ChangeStatusTo(BulkAction):
    key = "change_status"
    inverse = "change_status_undo"  # accounts.actions.undo
    label = "Change Status To"
    target = "accounts"
    group = "Accounts"
    permission = "accounts.change_account_status"
    order = 20
    form_class = ChangeStatusForm
    chunk_size = 10000
    confirm_label = "Change"

    def parameters(self, form):
        status = form.cleaned_data["status"]
        return {"status": status.pk, "status_name": status.name}

    def describe(self, parameters):
        return f"Change Status To {parameters.get('status_name', '')}"

    def apply(self, items, operation):
        ids = items.target_ids
        status = AccountStatus.objects.filter(pk=operation.parameters["status"]).first()
        if status is None or not status.is_active:
            return Outcomes.all_failed(ids, "The status was deactivated after confirming.")
        if not selectors.configuration_usable_by(operation.created_by, status):
            return Outcomes.all_failed(ids, NOT_YOURS)
        return services.change_status(
            actor=operation.created_by, account_ids=ids, status=status, bulk_operation=operation
        )
