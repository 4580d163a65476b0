from django import forms

from communications.models import Channel, Locale, MessageTemplate


class TemplateForm(forms.Form):
    """The template editor's fields; ``services.save_template`` checks the
    content (placeholders, HTML in SMS) and saves."""

    name = forms.CharField(max_length=100)
    locale = forms.ChoiceField(label="Locale", choices=Locale.choices)
    is_active = forms.BooleanField(label="Active", required=False, initial=True)
    subject = forms.CharField(max_length=200, required=False)
    html_body = forms.CharField(
        label="HTML body", required=False, widget=forms.Textarea(attrs={"rows": 8})
    )
    text_body = forms.CharField(
        label="Text body", required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    body = forms.CharField(
        label="Text",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, channel: str, template: MessageTemplate | None = None, **kwargs):
        if template is not None:
            fields = ("name", "locale", "is_active", "subject", "html_body", "text_body", "body")
            kwargs.setdefault("initial", {f: getattr(template, f) for f in fields})
        super().__init__(*args, **kwargs)
        self.channel = channel
        if channel == Channel.VOICE:
            self.fields["body"].label = "Script"
        for field in ("subject", "html_body", "text_body", "body"):
            if field not in _FIELDS_OF.get(channel, ()):
                del self.fields[field]


_FIELDS_OF = {
    Channel.EMAIL: ("subject", "html_body", "text_body"),
    Channel.SMS: ("body",),
    Channel.VOICE: ("body",),
}


class TemplateFilter(forms.Form):
    channel = forms.ChoiceField(choices=[("", "All channels"), *Channel.choices], required=False)
    locale = forms.ChoiceField(choices=[("", "All locales"), *Locale.choices], required=False)
