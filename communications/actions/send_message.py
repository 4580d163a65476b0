"""Send Message (seed 001): an SMS, a voice call or an email to every
selected account's debtor, from a template or free text with placeholders,
now or at a date. SMS are at most 140 characters once filled in; Ignore Max
Per Minute (offered only with its permission) sends past the office's
per-minute limit and is recorded on the batch, its messages and the audit."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from accounts.selectors import accounts_visible_to
from billing.models import Claim
from bulkops.registry import register
from communications import rendering, services, sms
from communications.actions.base import MessageAction, SendAtField, now_for_input, unsendable
from communications.models import Channel, Locale, MessageTemplate, MessageTemplateVersion
from communications.placeholders import PLACEHOLDERS
from communications.selectors import templates_visible_to

TEMPLATE, FREE_TEXT = "template", "free_text"
NOW, LATER = "now", "later"
MAX_FREE_TEXT = 5000


class TemplateChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: MessageTemplate) -> str:
        return f"{obj.get_channel_display()} · {obj.name} ({obj.get_locale_display()})"


class SendMessageForm(forms.Form):
    channel = forms.ChoiceField(
        label="Message type",
        choices=[(Channel.SMS, "SMS"), (Channel.VOICE, "Voice"), (Channel.EMAIL, "Email")],
        widget=forms.RadioSelect,
        initial=Channel.SMS,
    )
    source = forms.ChoiceField(
        label="Content",
        choices=[(TEMPLATE, "Template"), (FREE_TEXT, "Free text")],
        widget=forms.RadioSelect,
        initial=TEMPLATE,
    )
    template = TemplateChoice(label="Template", queryset=None, required=False)
    subject = forms.CharField(label="Subject", max_length=200, required=False)
    text = forms.CharField(
        label="Message",
        max_length=MAX_FREE_TEXT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=(
            "Free text, with placeholders. With a template that has {{customBody}}, "
            "this text takes its place."
        ),
    )
    when = forms.ChoiceField(
        label="Send",
        choices=[(NOW, "Now"), (LATER, "At a date and time")],
        widget=forms.RadioSelect,
        initial=NOW,
    )
    send_at = SendAtField(required=False)
    ignore_max_per_minute = forms.BooleanField(
        label="Ignore Max Per Minute",
        required=False,
        help_text="Send as soon as possible, past the office's messages-per-minute limit.",
    )
    # Seed 001's Ignore Contact Preferences, narrowed to what is the debtor's
    # or the company's choice: the law's rules are never ignored.
    ignore_contact_preferences = forms.BooleanField(
        label="Ignore Contact Preferences",
        required=False,
        help_text=(
            "Send past the debtor's preferred hours and the company's weekly caps. Opt-outs, "
            "do not contact, legal stops, 8:00 to 21:00 in the debtor's time zone and the call "
            "frequency limits still apply."
        ),
    )
    override_reason = forms.CharField(
        label="Why the contact preferences are ignored",
        required=False,
        max_length=255,
        help_text="Kept on the batch and in the audit.",
    )

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates_visible_to(user).filter(is_active=True)
        if not user.has_perm("communications.ignore_max_per_minute"):
            del self.fields["ignore_max_per_minute"]
        if not user.has_perm("communications.ignore_contact_preferences"):
            # A forged tick from a user without the permission is not read.
            del self.fields["ignore_contact_preferences"]
            del self.fields["override_reason"]
        if not self.is_bound:
            self.initial.setdefault("send_at", now_for_input())

    def clean(self):
        data = super().clean()
        channel, source = data.get("channel"), data.get("source")
        if not channel or not source:
            return data
        text = data.get("text", "")
        if source == TEMPLATE:
            template = data.get("template")
            if template is None:
                self.add_error("template", "Choose a template, or write free text.")
                return data
            if template.channel != channel:
                self.add_error(
                    "template",
                    f"“{template.name}” is a {template.get_channel_display()} template; "
                    "choose one of the message type.",
                )
                return data
            problem = unsendable(template)
            if problem:
                self.add_error("template", problem)
                return data
            has_custom_body = "customBody" in rendering.used_placeholders(
                " ".join(getattr(template, f) for f in template.content_fields)
            )
            if has_custom_body and not text.strip():
                self.add_error("text", "The template has {{customBody}}: write the text for it.")
            elif text.strip() and not has_custom_body:
                self.add_error(
                    "text",
                    "The template has no {{customBody}} for this text: choose Free text, "
                    "or a template that has it.",
                )
            for problem in rendering.problems(text, email=channel == Channel.EMAIL):
                self.add_error("text", problem)
        else:
            if not text.strip():
                self.add_error("text", "Write the message.")
                return data
            if channel == Channel.EMAIL and not data.get("subject", "").strip():
                self.add_error("subject", "An email needs a subject.")
                return data
            content = services.Content.free_text(
                channel, text=text, subject=data.get("subject", "")
            )
            if channel == Channel.SMS and sms.measure(text).too_long:
                self.add_error(
                    "text",
                    f"An SMS has at most {sms.MAX_CHARACTERS} characters, placeholders "
                    f"included; this one has {len(text)} before they are filled in.",
                )
                return data
            for field, problems in content.problems().items():
                for problem in problems:
                    self.add_error("subject" if field == "subject" else "text", problem)
        if data.get("ignore_contact_preferences") and not data.get("override_reason", "").strip():
            self.add_error("override_reason", "Say why the contact preferences are ignored.")
        if data.get("when") == LATER and not data.get("send_at") and "send_at" not in self.errors:
            self.add_error("send_at", "Choose the send date and time.")
        return data


def override_parameters(data) -> dict:
    """Ignore Contact Preferences and its reason, as an operation keeps them."""
    ignore = bool(data.get("ignore_contact_preferences"))
    return {
        "ignore_contact_preferences": ignore,
        "override_reason": data.get("override_reason", "").strip() if ignore else "",
    }


@register
class SendMessage(MessageAction):
    key = "send_message"
    label = "Send Message"
    order = 72
    form_class = SendMessageForm
    confirm_label = "Send Message"
    dialog_template = "communications/actions/_send_message.html"
    scripts = ("js/show_when.js",)
    preview_template = "communications/actions/_message_check.html"
    preview_title = "Check the messages"

    def dialog_context(self, form):
        return {"placeholders": PLACEHOLDERS, "sms_limit": sms.MAX_CHARACTERS}

    def parameters(self, form):
        data = form.cleaned_data
        template = data.get("template") if data["source"] == TEMPLATE else None
        version = (
            template.versions.order_by("-version").values_list("pk", flat=True).first()
            if template
            else None
        )
        return {
            "channel": data["channel"],
            "source": data["source"],
            "template": template.pk if template else None,
            "template_version": version,
            "template_name": template.name if template else "",
            "version": template.version if template else None,
            "subject": data.get("subject", "") if not template else "",
            "text": data.get("text", ""),
            "send_at": data["send_at"].isoformat() if data["when"] == LATER else None,
            "ignore_max_per_minute": bool(data.get("ignore_max_per_minute")),
            **override_parameters(data),
        }

    def describe(self, parameters):
        channel = Channel(parameters["channel"]).label
        if parameters["template"]:
            what = f"{channel} “{parameters['template_name']}” (version {parameters['version']})"
        else:
            what = f"free-text {channel}"
        if parameters["send_at"]:
            when = timezone.localtime(dt.datetime.fromisoformat(parameters["send_at"]))
            what += f" for {when:%Y-%m-%d %H:%M}"
        else:
            what += " now"
        if parameters.get("ignore_max_per_minute"):
            what += ", Ignore Max Per Minute"
        if parameters.get("ignore_contact_preferences"):
            what += f", Ignore Contact Preferences ({parameters['override_reason']})"
        return f"Send Message: {what}"

    def audited_parameters(self, parameters):
        return {
            "channel": parameters["channel"],
            "ignore_max_per_minute": bool(parameters.get("ignore_max_per_minute")),
            "ignore_contact_preferences": bool(parameters.get("ignore_contact_preferences")),
            "override_reason": parameters.get("override_reason", ""),
        }

    def content(self, parameters):
        if parameters["template_version"]:
            version = MessageTemplateVersion.objects.select_related("template").get(
                pk=parameters["template_version"]
            )
            return services.Content.of_version(version, custom_body=parameters["text"])
        return services.Content.free_text(
            parameters["channel"], text=parameters["text"], subject=parameters["subject"]
        )


class SendDebtorMessageForm(SendMessageForm):
    """Send debtor email / Send debtor SMS (seed 004): the Send Message
    form for one account, with its claim reference and the locale of the
    template (the "design")."""

    claim = forms.ModelChoiceField(label="Claim reference", queryset=None, required=False)
    locale = forms.ChoiceField(label="Locale", choices=Locale.choices, initial=Locale.EN_US)

    field_order = ["channel", "claim", "source", "locale", "template", "subject", "text"]

    def __init__(self, *args, user, selected_count=None, account=None, **kwargs):
        super().__init__(*args, user=user, selected_count=selected_count, **kwargs)
        claims = Claim.objects.filter(account__in=accounts_visible_to(user))
        if account is not None:
            claims = claims.filter(account=account)
        self.fields["claim"].queryset = claims.order_by("due_date", "pk")
        self.fields["claim"].label_from_instance = lambda c: (
            f"{c.reference} (balance ${c.balance:,.2f})"
        )
        self.fields["source"].choices = [(TEMPLATE, "Content"), (FREE_TEXT, "Free Text")]
        self.fields["source"].label = "What to send"
        if self["channel"].value() == Channel.EMAIL:
            self.fields["template"].label = "Design"
            self.fields["text"].label = "Free text"
            self.fields[
                "text"
            ].help_text = "Optional: replaces {{customBody}} in a design that has it."
        else:
            self.fields["template"].label = "SMS content"
            self.fields["text"].label = "Your SMS"
            self.fields["text"].help_text = ""

    def clean(self):
        data = super().clean()
        template, locale = data.get("template"), data.get("locale")
        if (
            data.get("source") == TEMPLATE
            and template is not None
            and locale
            and template.locale != locale
        ):
            self.add_error(
                "template",
                f"“{template.name}” is in {template.get_locale_display()}; choose one in "
                f"{Locale(locale).label}, or change the locale.",
            )
        return data


@register
class SendDebtorMessage(SendMessage):
    """The account page's Send debtor email and Send debtor SMS: a Send
    Message to one account, with the same gate, rate limit, states and
    approval as a batch; not on the grid's toolbar."""

    key = "send_debtor_message"
    label = "Send debtor message"
    in_toolbar = False
    form_class = SendDebtorMessageForm
    order = 73

    def parameters(self, form):
        parameters = super().parameters(form)
        claim = form.cleaned_data.get("claim")
        parameters["claim"] = claim.pk if claim else None
        parameters["claim_reference"] = claim.reference if claim else ""
        parameters["locale"] = form.cleaned_data["locale"]
        return parameters

    def describe(self, parameters):
        text = super().describe(parameters).removeprefix("Send Message: ")
        noun = {"email": "email", "sms": "SMS", "voice": "call"}[parameters["channel"]]
        claim = f" about {parameters['claim_reference']}" if parameters.get("claim") else ""
        return f"Send debtor {noun}{claim}: {text}"
