"""Schedule Emails and Schedule Text Messages (seed 000): a template sent at
a date and time to every selected account's debtor who can be reached on
its channel. A user who may not send messages sees "Send for Approval", and
the batch waits for a supervisor (the engine's approval)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from bulkops.registry import register
from communications import services
from communications.actions.base import MessageAction, SendAtField, now_for_input, unsendable
from communications.models import Channel, MessageTemplateVersion
from communications.selectors import templates_visible_to


class ScheduleForm(forms.Form):
    channel = Channel.EMAIL
    send_at = SendAtField()
    template = forms.ModelChoiceField(label="Email template", queryset=None)

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates_visible_to(user).filter(
            channel=self.channel, is_active=True
        )
        if not self.is_bound:
            self.initial.setdefault("send_at", now_for_input())

    def clean_template(self):
        template = self.cleaned_data["template"]
        problem = unsendable(template)
        if problem:
            raise forms.ValidationError(problem)
        return template


class ScheduleEmailsForm(ScheduleForm):
    pass


class ScheduleTextMessagesForm(ScheduleForm):
    channel = Channel.SMS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].label = "SMS template"


class Schedule(MessageAction):
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
            f"{self.label} “{parameters['template_name']}” (version {parameters['version']}) "
            f"for {when:%Y-%m-%d %H:%M}"
        )

    def content(self, parameters):
        version = MessageTemplateVersion.objects.select_related("template").get(
            pk=parameters["template_version"]
        )
        return services.Content.of_version(version)


@register
class ScheduleEmails(Schedule):
    key = "schedule_emails"
    label = "Schedule Emails"
    order = 70
    form_class = ScheduleEmailsForm
    channel = Channel.EMAIL
    confirm_label = "Schedule Emails"


@register
class ScheduleTextMessages(Schedule):
    key = "schedule_text_messages"
    label = "Schedule Text Messages"
    order = 71
    form_class = ScheduleTextMessagesForm
    channel = Channel.SMS
    confirm_label = "Schedule Text Messages"
    # At confirmation, who gets no text (too long once filled in...) is listed.
    preview_template = "communications/actions/_message_check.html"
    preview_title = "Check the messages"
