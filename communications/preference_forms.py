"""The small forms of the account page's "Contact preferences (Reminders)"
section, one per change. Each checks what a person typed and says what is
wrong beside the field; the rules themselves (the legal window, no stop
starting tomorrow) live in ``communications.preferences``, which the writes
enforce again, so a form and a service can never disagree.

The forms are drawn many to a page (one per channel of every address and
number), so each gets its own ``auto_id``: ids stay unique and every label,
help text and error is tied to its own field (Django sets
``aria-describedby`` to ``<id>_helptext`` and ``<id>_error``, which the
section's field template renders)."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from communications import preferences
from communications.models import LegalStop

YES_NO = [("yes", "Yes"), ("no", "No")]
SOURCE_HELP = "Where it came from: phone call, letter, email, ..."
SELECT = {"class": "form-select form-select-sm"}
TEXT = {"class": "form-control form-control-sm"}


def _yes_no(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO,
        coerce=lambda value: value == "yes",
        widget=forms.Select(attrs=SELECT),
    )


def _source(*, required: bool, help_text: str = SOURCE_HELP) -> forms.CharField:
    return forms.CharField(
        label="Source",
        max_length=preferences.SOURCE_MAX,
        required=required,
        help_text=help_text,
        error_messages={"required": "Say where this came from: a phone call, a letter, ..."},
        widget=forms.TextInput(attrs=TEXT),
    )


def yes_no(value: bool) -> str:
    """A boolean as the yes/no fields' initial value."""
    return "yes" if value else "no"


class ChannelForm(forms.Form):
    """One channel of one address or number: consent and opt-out, and
    where the answer came from (required: an opt-out nobody can trace back
    is worth little when a debtor disputes it)."""

    consent = _yes_no("Consent")
    opted_out = _yes_no("Opted out")
    source = _source(required=True)


class DoNotContactForm(forms.Form):
    """Set or clear "do not contact": the section draws it with the value
    it would change to, hidden, so a stale page can only ask for a state,
    never toggle one."""

    do_not_contact = forms.TypedChoiceField(
        choices=YES_NO, coerce=lambda value: value == "yes", widget=forms.HiddenInput
    )
    source = _source(required=False, help_text="Who asked, and how: phone call, letter, ...")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("do_not_contact") and not cleaned.get("source", "").strip():
            self.add_error("source", "Say who asked not to be contacted, and how.")
        return cleaned


class PreferredHoursForm(forms.Form):
    """The hours the debtor prefers, in their local time; both empty clears them."""

    preferred_from = forms.TimeField(
        label="From",
        required=False,
        widget=forms.TimeInput(attrs={**TEXT, "type": "time"}, format="%H:%M"),
    )
    preferred_to = forms.TimeField(
        label="To",
        required=False,
        help_text=(
            f"Within {preferences.LEGAL_FROM:%H:%M} to {preferences.LEGAL_TO:%H:%M}, "
            "the legal window. Leave both empty for no preference."
        ),
        widget=forms.TimeInput(attrs={**TEXT, "type": "time"}, format="%H:%M"),
    )

    def clean(self):
        cleaned = super().clean()
        if self.errors:  # a time that did not parse already says so
            return cleaned
        problem = preferences.hours_problem(
            cleaned.get("preferred_from"), cleaned.get("preferred_to")
        )
        if problem is not None:
            self.add_error(*problem)
        return cleaned


class LegalStopForm(forms.Form):
    kind = forms.ChoiceField(
        label="Stop",
        choices=[("", "Choose…"), *LegalStop.Kind.choices],
        error_messages={"required": "Choose the kind of stop."},
        widget=forms.Select(attrs=SELECT),
    )
    since = forms.DateField(
        label="Since",
        initial=timezone.localdate,
        error_messages={"required": "Give the day the stop starts."},
        widget=forms.DateInput(attrs={**TEXT, "type": "date"}, format="%Y-%m-%d"),
    )
    source = _source(required=True, help_text="Letter, attorney's call, court notice, ...")
    note = forms.CharField(
        label="Note",
        max_length=255,
        required=False,
        widget=forms.TextInput(attrs=TEXT),
    )

    def clean_since(self):
        since = self.cleaned_data["since"]
        problem = preferences.since_problem(since)
        if problem:
            raise forms.ValidationError(problem)
        return since


def _now_for_input():
    """Now, to the minute, in the user's zone: what a datetime-local input shows."""
    return timezone.localtime().replace(second=0, microsecond=0)


class ConversationForm(forms.Form):
    at = forms.DateTimeField(
        label="When",
        initial=_now_for_input,
        error_messages={"required": "Give when the conversation took place."},
        widget=forms.DateTimeInput(
            attrs={**TEXT, "type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        ),
    )
    note = forms.CharField(
        label="Note",
        max_length=255,
        required=False,
        help_text="What was said, in a few words.",
        widget=forms.TextInput(attrs=TEXT),
    )

    def clean_at(self):
        at = self.cleaned_data["at"]
        problem = preferences.conversation_time_problem(at)
        if problem:
            raise forms.ValidationError(problem)
        return at
