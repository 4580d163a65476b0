"""Add/Remove Flags (seed 001): flags to add and flags to remove, at once."""

from __future__ import annotations

from django import forms

from accounts import selectors, services
from accounts.models import Flag
from bulkops.registry import BulkAction, Outcomes, register

NOT_YOURS = "A flag is another company's: not one the operation's creator may use."


class FlagsForm(forms.Form):
    add = forms.ModelMultipleChoiceField(
        label="Flags to add",
        queryset=Flag.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "A flag to add is no longer active. Pick again."},
    )
    remove = forms.ModelMultipleChoiceField(
        label="Flags to remove",
        queryset=Flag.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The defaults and the user's company's own flags.
        flags = selectors.configuration_visible_to(user, Flag)
        self.fields["add"].queryset = flags.filter(is_active=True)
        self.fields["remove"].queryset = flags

    def clean(self):
        cleaned = super().clean()
        add, remove = set(cleaned.get("add") or []), set(cleaned.get("remove") or [])
        if not add and not remove and not self.errors:
            raise forms.ValidationError("Choose at least one flag to add or remove.")
        both = add & remove
        if both:
            names = ", ".join(sorted(f.name for f in both))
            raise forms.ValidationError(f"A flag cannot be added and removed at once: {names}.")
        return cleaned


@register
class AddRemoveFlags(BulkAction):
    key = "flags"
    inverse = "flags_undo"  # accounts.actions.undo
    label = "Add/Remove Flags"
    target = "accounts"
    group = "Accounts"
    permission = "accounts.manage_account_flags"
    order = 30
    form_class = FlagsForm
    confirm_label = "Apply"

    def parameters(self, form):
        return {
            "add": sorted(f.pk for f in form.cleaned_data["add"]),
            "remove": sorted(f.pk for f in form.cleaned_data["remove"]),
            "add_names": sorted(f.name for f in form.cleaned_data["add"]),
            "remove_names": sorted(f.name for f in form.cleaned_data["remove"]),
        }

    def describe(self, parameters):
        parts = []
        if parameters.get("add_names"):
            parts.append("add " + ", ".join(parameters["add_names"]))
        if parameters.get("remove_names"):
            parts.append("remove " + ", ".join(parameters["remove_names"]))
        return "Flags: " + "; ".join(parts)

    def apply(self, items, operation):
        ids = items.target_ids
        add = list(Flag.objects.filter(pk__in=operation.parameters["add"], is_active=True))
        if len(add) != len(operation.parameters["add"]):
            return Outcomes.all_failed(ids, "A flag to add was deactivated after confirming.")
        named = [*add, *Flag.objects.filter(pk__in=operation.parameters["remove"])]
        if not all(selectors.configuration_usable_by(operation.created_by, f) for f in named):
            return Outcomes.all_failed(ids, NOT_YOURS)
        return services.change_flags(
            actor=operation.created_by,
            account_ids=ids,
            add=add,
            remove_ids=operation.parameters["remove"],
            bulk_operation=operation,
        )
