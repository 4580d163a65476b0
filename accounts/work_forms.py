"""The forms of a collector's work on one account (seed 004's words). Plain
forms: ``accounts.work`` does the checking that matters and the saving."""

from __future__ import annotations

from django import forms

from accounts.masking import mask_phone
from accounts.models import (
    DelinquencyReason,
    Interaction,
    InteractionOutcome,
    NoteType,
    WorkGroup,
    WorkQueue,
)
from accounts.selectors import company_users, configuration_visible_to
from accounts.work import teams_for
from common.forms import DATE, BootstrapForm


def _offered(user, model):
    return configuration_visible_to(user, model).filter(is_active=True).order_by("name")


class NoteForm(BootstrapForm):
    note_type = forms.ModelChoiceField(
        label="Note type", queryset=NoteType.objects.none(), required=False, empty_label="General"
    )
    body = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 4}), max_length=5000)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note_type"].queryset = _offered(user, NoteType)


class InteractionForm(BootstrapForm):
    method = forms.ChoiceField(label="Communication method", choices=Interaction.Method.choices)
    outcome = forms.ModelChoiceField(label="Outcome", queryset=InteractionOutcome.objects.none())
    direction = forms.ChoiceField(
        label="Direction of the contact",
        choices=Interaction.Direction.choices,
        widget=forms.RadioSelect,
    )
    delinquency_reason = forms.ModelChoiceField(
        label="Reason for delinquency", queryset=DelinquencyReason.objects.none()
    )
    additional_information = forms.CharField(
        label="Additional information",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=5000,
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outcome"].queryset = _offered(user, InteractionOutcome)
        self.fields["delinquency_reason"].queryset = _offered(user, DelinquencyReason)


class TaskForm(BootstrapForm):
    show_when = {
        "queue": "assign_to:queue",
        "assignee": "assign_to:queue",
        "group": "assign_to:group",
    }
    assign_to = forms.ChoiceField(
        label="Assign to",
        choices=[("queue", "Queue"), ("group", "Group")],
        widget=forms.RadioSelect,
        initial="queue",
    )
    queue = forms.ModelChoiceField(label="Queue", queryset=WorkQueue.objects.none(), required=False)
    assignee = forms.ModelChoiceField(
        label="User (optional)",
        queryset=None,
        required=False,
        empty_label="Anyone in the queue",
    )
    group = forms.ModelChoiceField(label="Group", queryset=WorkGroup.objects.none(), required=False)
    due_date = forms.DateField(label="Due date", widget=DATE)
    tags = forms.CharField(
        label="Tags (optional)",
        required=False,
        max_length=500,
        help_text="Separated by commas.",
    )
    notes = forms.CharField(
        label="Notes (optional)",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=5000,
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].queryset = teams_for(user, WorkQueue)
        self.fields["group"].queryset = teams_for(user, WorkGroup)
        self.fields["assignee"].queryset = company_users(user)

    def clean(self):
        data = super().clean()
        if data.get("assign_to") == "queue":
            if not data.get("queue"):
                self.add_error("queue", "Choose the queue.")
            data["group"] = None
        elif data.get("assign_to") == "group":
            if not data.get("group"):
                self.add_error("group", "Choose the group.")
            data["queue"] = data["assignee"] = None
        return data


class ResolveTaskForm(BootstrapForm):
    note = forms.CharField(
        label="Note (optional)",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=5000,
    )


class PhoneValidityForm(BootstrapForm):
    """Validate phone number / Invalidate phone number: one of the debtor's
    numbers (masked unless the user may see them) and notes, required to
    invalidate."""

    phone = forms.TypedChoiceField(label="Phone number", coerce=int)
    notes = forms.CharField(
        label="Notes", widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=255
    )

    def __init__(self, *args, user, account, valid: bool, **kwargs):
        super().__init__(*args, **kwargs)
        unmasked = user.has_perm("accounts.view_unmasked_data")
        self.fields["phone"].choices = [("", "Choose a number")] + [
            (
                p.pk,
                f"{p.number if unmasked else mask_phone(p.number)} ({p.get_phone_type_display()},"
                f" {p.get_validity_display().lower()})",
            )
            for p in account.debtor.phones.order_by("-is_primary", "pk")
        ]
        self.valid = valid
        self.fields["notes"].required = not valid
        if valid:
            self.fields["notes"].label = "Notes (optional)"
