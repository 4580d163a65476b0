"""Update Stage (seed 001): the collections stage of every selected account."""

from __future__ import annotations

from django import forms

from accounts import services
from accounts.models import Account
from bulkops.registry import BulkAction, register


class StageForm(forms.Form):
    stage = forms.ChoiceField(label="Collections Stage", choices=Account.Stage.choices)

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)


@register
class UpdateStage(BulkAction):
    key = "stage"
    inverse = "stage_undo"  # accounts.actions.undo
    label = "Update Stage"
    target = "accounts"
    group = "Accounts"
    permission = "accounts.update_account_stage"
    order = 40
    form_class = StageForm
    chunk_size = 10000
    confirm_label = "Update"

    def describe(self, parameters):
        return f"Update Stage to {Account.Stage(parameters['stage']).label}"

    def apply(self, items, operation):
        return services.update_stage(
            actor=operation.created_by,
            account_ids=items.target_ids,
            stage=operation.parameters["stage"],
            bulk_operation=operation,
        )
