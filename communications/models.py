"""Message templates: email, SMS and voice, per company and locale, with
their versions (a batch keeps the version it was approved with)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    VOICE = "voice", "Voice"


class Locale(models.TextChoices):
    EN_US = "en-US", "English (US)"
    ES_US = "es-US", "Spanish (US)"
    FR_CA = "fr-CA", "French (Canada)"


class MessageTemplate(models.Model):
    """One company's template for one channel and locale. Email has a
    subject, an HTML and a text body; SMS a body (at most 140 characters
    once rendered); voice a script spoken to the debtor. Every saved change
    is a new version (``MessageTemplateVersion``)."""

    company = models.ForeignKey(
        "accounts.Company", on_delete=models.PROTECT, related_name="message_templates"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    name = models.CharField(max_length=100)
    locale = models.CharField(max_length=10, choices=Locale.choices, default=Locale.EN_US)
    is_active = models.BooleanField("Active", default=True)
    subject = models.CharField(max_length=200, blank=True)
    html_body = models.TextField("HTML body", blank=True)
    text_body = models.TextField("Text body", blank=True)
    body = models.TextField(blank=True, help_text="The SMS text, or the voice script.")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["channel", "name", "locale"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "channel", "name", "locale"], name="message_template_unique"
            )
        ]
        permissions = [
            ("approve_message", "Can approve message batches"),
            ("process_messages", "Can send emails and text messages without approval"),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_locale_display()})"

    @property
    def content_fields(self) -> tuple[str, ...]:
        return CONTENT_FIELDS[self.channel]


CONTENT_FIELDS = {
    Channel.EMAIL: ("subject", "html_body", "text_body"),
    Channel.SMS: ("body",),
    Channel.VOICE: ("body",),
}


class MessageTemplateVersion(models.Model):
    """A template's content as one version was saved: what a batch sends."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    subject = models.CharField(max_length=200, blank=True)
    html_body = models.TextField(blank=True)
    text_body = models.TextField(blank=True)
    body = models.TextField(blank=True)
    saved_at = models.DateTimeField(default=timezone.now)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["template", "version"], name="template_version_unique")
        ]

    def __str__(self):
        return f"{self.template} v{self.version}"
