"""Schedule Emails (seed 000): an email template sent at a date and time to
every selected account's debtor with a usable email address. A user who
may not send messages sees "Send for Approval", and the batch waits for a
supervisor (the engine's approval)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from bulkops.registry import BulkAction, register
from communications import services
from communications.models import Channel, MessageTemplateVersion
from communications.selectors import templates_visible_to

MAX_DAYS_AHEAD = 35
PAST_SLACK = dt.timedelta(minutes=5)  # "now", typed a moment ago


class ScheduleEmailsForm(forms.Form):
    send_at = forms.DateTimeField(
        label="Send date and time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    template = forms.ModelChoiceField(label="Email template", queryset=None)

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates_visible_to(user).filter(
            channel=Channel.EMAIL, is_active=True
        )
        if not self.is_bound:
            self.initial.setdefault(
                "send_at", timezone.localtime().replace(second=0, microsecond=0)
            )

    def clean_send_at(self):
        send_at = self.cleaned_data["send_at"]
        now = timezone.now()
        if send_at < now - PAST_SLACK:
            raise forms.ValidationError("The send time has passed; choose a later one.")
        if send_at > now + dt.timedelta(days=MAX_DAYS_AHEAD):
            raise forms.ValidationError(f"Choose a send time within {MAX_DAYS_AHEAD} days.")
        return send_at


@register
class ScheduleEmails(BulkAction):
    key = "schedule_emails"
    label = "Schedule Emails"
    target = "accounts"
    group = "Communications"
    permission = "communications.schedule_messages"
    approval_permission = "communications.approve_message"
    order = 70
    form_class = ScheduleEmailsForm
    chunk_size = 2000
    confirm_label = "Schedule Emails"
    done_word = "queued"
    changes_accounts = False  # it adds messages; it changes no account
    grows = ("communications.Message",)

    def parameters(self, form):
        template = form.cleaned_data["template"]
        version = template.versions.order_by("-version").values_list("pk", flat=True).first()
        return {
            "send_at": form.cleaned_data["send_at"].isoformat(),
            "template": template.pk,
            "template_version": version,
            "template_name": template.name,
            "version": template.version,
        }

    def describe(self, parameters):
        when = timezone.localtime(dt.datetime.fromisoformat(parameters["send_at"]))
        return (
            f"Schedule Emails “{parameters['template_name']}” (version {parameters['version']}) "
            f"for {when:%Y-%m-%d %H:%M}"
        )

    def confirm_label_for(self, user):
        if user.has_perm("communications.process_messages"):
            return self.confirm_label
        return "Send for Approval"

    def approval_needed(self, user, parameters, count):
        if user.has_perm("communications.process_messages"):
            return ""
        return "Its sender may not send emails without approval."

    def run_at(self, parameters):
        send_at = dt.datetime.fromisoformat(parameters["send_at"])
        return send_at if send_at > timezone.now() else None

    def apply(self, items, operation):
        version = MessageTemplateVersion.objects.get(pk=operation.parameters["template_version"])
        return services.queue_emails(
            account_ids=items.target_ids,
            version=version,
            send_after=dt.datetime.fromisoformat(operation.parameters["send_at"]),
            bulk_operation=operation,
            actor=operation.created_by,
        )
