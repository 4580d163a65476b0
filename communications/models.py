"""Message templates: email, SMS and voice, per company and locale, with
their versions (a batch keeps the version it was approved with)."""

import datetime as dt

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
            (
                "schedule_messages",
                "Can schedule emails and text messages (with approval, or without)",
            ),
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


class MessageState(models.TextChoices):
    QUEUED = "queued", "Queued"
    HELD = "held", "Held"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    BOUNCED = "bounced", "Bounced"
    UNDELIVERED = "undelivered", "Undelivered"
    SUPPRESSED = "suppressed", "Suppressed"
    UNKNOWN = "unknown", "Unknown"
    CANCELLED = "cancelled", "Cancelled"


# Where a message may go from each state. A final state (delivered, failed,
# bounced, undelivered, suppressed, cancelled) goes nowhere: events that
# arrive late or twice never move a message back.
TRANSITIONS: dict[str, frozenset[str]] = {
    MessageState.QUEUED: frozenset(
        {MessageState.SENDING, MessageState.HELD, MessageState.SUPPRESSED, MessageState.CANCELLED}
    ),
    MessageState.HELD: frozenset(
        {MessageState.QUEUED, MessageState.SENDING, MessageState.SUPPRESSED, MessageState.CANCELLED}
    ),
    MessageState.SENDING: frozenset(
        {MessageState.SENT, MessageState.FAILED, MessageState.UNKNOWN, MessageState.HELD}
    ),
    MessageState.SENT: frozenset(
        {MessageState.DELIVERED, MessageState.FAILED, MessageState.BOUNCED, MessageState.UNDELIVERED}
    ),
    # A person decides an unknown message: sent after all, or send it again.
    MessageState.UNKNOWN: frozenset(
        {MessageState.SENT, MessageState.DELIVERED, MessageState.FAILED, MessageState.BOUNCED,
         MessageState.UNDELIVERED, MessageState.CANCELLED, MessageState.QUEUED}
    ),
}  # fmt: skip
FINAL_STATES = frozenset(MessageState.values) - frozenset(TRANSITIONS)


# What each rule a message may be held or suppressed by is about, for the
# pages that count them (the rule's own reason says the rest).
RULE_LABELS = {
    "contact_point": "Address or number not usable",
    "opt_out": "Opted out",
    "consent": "No consent",
    "do_not_contact": "Do not contact",
    "legal_stop": "Legal stop on the account",
    "time_zone": "No time zone known",
    "time_of_day": "Outside 8:00 to 21:00 or the preferred hours, local time",
    "call_frequency": "Call frequency",
    "weekly_cap": "Weekly cap",
    "rate_limit": "Rate limit (Max Per Minute)",
    "provider": "Provider unreachable",
}


def rule_label(name: str) -> str:
    """A rule's name (a message's ``rule``) as the pages show it."""
    return RULE_LABELS.get(name, name.replace("_", " ").capitalize())


class Message(models.Model):
    """One email, SMS or voice call to one debtor: what is sent (rendered
    when it was queued), to whom, and its fate. Changes of state go through
    ``move_to`` so they follow ``TRANSITIONS``."""

    company = models.ForeignKey("accounts.Company", on_delete=models.PROTECT, related_name="+")
    # Indexed with sent_at below (message_account_sent_idx).
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    template_version = models.ForeignKey(
        MessageTemplateVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to = models.CharField(max_length=254, help_text="The email address or E.164 number.")
    subject = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True, help_text="The text body, the SMS or the voice script.")
    html = models.TextField(blank=True)
    # Not indexed alone: message_due_idx leads with it.
    state = models.CharField(
        max_length=12, choices=MessageState.choices, default=MessageState.QUEUED
    )
    send_after = models.DateTimeField(default=timezone.now, db_index=True)
    rule = models.CharField(
        max_length=50, blank=True, help_text="The rule that held or suppressed it."
    )
    reason = models.CharField(max_length=255, blank=True)
    provider_id = models.CharField(max_length=100, blank=True)  # indexed below
    error = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    ignore_rate_limit = models.BooleanField(
        "Ignore Max Per Minute",
        default=False,
        help_text="Sent as soon as possible, past the office's messages-per-minute limit.",
    )
    ignore_contact_preferences = models.BooleanField(
        "Ignore Contact Preferences",
        default=False,
        help_text="The debtor's preferred hours and the weekly caps do not hold it back "
        "(opt-outs, legal stops, the 8:00 to 21:00 window and call frequency still do).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Not indexed alone: message_batch_account_idx leads with it.
    bulk_operation = models.ForeignKey(
        "bulkops.BulkOperation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now)
    state_changed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "send_after"], name="message_due_idx"),
            # The dispatch takes the next due batch in this order, under row
            # locks: PostgreSQL walks this index and stops at the batch's
            # size, where (state, send_after) sorted every due message first.
            models.Index(
                fields=["send_after", "id"],
                condition=models.Q(state__in=["queued", "held"]),
                name="message_due_order_idx",
            ),
            # An incoming SMS finds the message it answers by its sender's number.
            models.Index(fields=["to", "sent_at"], name="message_to_idx"),
            # "Has this batch already a message for one of this debtor's
            # accounts?" (Schedule Emails, once a chunk): one probe by both
            # columns. It also serves the batch's pages and its Cancel, so
            # the batch has no index of its own (one more index to write for
            # every message queued).
            models.Index(fields=["bulk_operation", "account"], name="message_batch_account_idx"),
            # An account's messages; the weekly caps and the call frequency
            # count what was sent to an account in the last days from the
            # index alone, not from every message the account was ever queued.
            models.Index(fields=["account", "sent_at"], name="message_account_sent_idx"),
            # A provider's status callback finds its message (equality only:
            # no pattern index).
            models.Index(fields=["provider_id"], name="message_provider_id_idx"),
        ]
        permissions = [
            (
                "ignore_max_per_minute",
                "Can send messages past the office's Max Per Minute (Ignore Max Per Minute)",
            ),
            ("place_calls", "Can call debtors with Call Now"),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} to {self.to} ({self.state})"

    @property
    def message_id_header(self) -> str:
        """The email's Message-ID: the same on every attempt, so a provider
        or a mailbox that saw it once can tell a second copy for what it is."""
        return f"<message-{self.pk}@{settings.MESSAGE_ID_DOMAIN}>"

    def can_move_to(self, state: str) -> bool:
        return state in TRANSITIONS.get(self.state, frozenset())


class MessageEvent(models.Model):
    """Something that happened to a message, as it happened: each state it
    took and each provider event received (kept even when it changed
    nothing: a late or repeated event)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    state = models.CharField(max_length=12, choices=MessageState.choices)
    detail = models.CharField(max_length=255, blank=True)
    applied = models.BooleanField(
        default=True, help_text="False: it arrived too late to change the state."
    )
    # Where it came from ("twilio", "esp", or "" for the app itself) and the
    # provider's own id of the event, when it has one: a repeated delivery of
    # the same event is stored once.
    source = models.CharField(max_length=20, blank=True)
    event_id = models.CharField(max_length=100, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "event_id"],
                condition=~models.Q(event_id=""),
                name="message_event_once",
            )
        ]


class InboundMessage(models.Model):
    """A text message a debtor sent to one of the company's numbers (Twilio's
    inbound webhook), stored as it arrived, once: a STOP, START or HELP in
    it is acted on when it arrives (``communications.inbound``). Matched to
    the company, account and message it answers when the sender's number
    was last written to by one."""

    provider_id = models.CharField(max_length=100, unique=True)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    body = models.TextField(blank=True)
    company = models.ForeignKey(
        "accounts.Company", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    in_reply_to = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="replies"
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["from_number", "received_at"], name="inbound_from_idx")]

    def __str__(self):
        return f"SMS from {self.from_number}"


class SendWindow(models.Model):
    """How many messages one office sent on one channel in one minute: the
    rate limit's count when there is no Redis (``communications.limiter``)."""

    office = models.ForeignKey("accounts.Office", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    minute = models.DateTimeField()
    sent = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["office", "channel", "minute"], name="send_window_unique"
            )
        ]


# --- contact preferences and the contact rules' configuration --------------------------


# 12 CFR 1006.6(b)(1)(i) (and the FDCPA, 15 U.S.C. 1692c(a)(1)): no contact
# "before 8:00 a.m. and after 9:00 p.m." at the consumer's local time. A
# debtor's preferred hours lie inside it; the gate never widens it.
LEGAL_FROM, LEGAL_TO = dt.time(8), dt.time(21)


class ContactPreference(models.Model):
    """A debtor's own wishes beyond each address's consent and opt-out
    (``accounts.DebtorEmail`` / ``DebtorPhone``): do not contact at all, and
    the hours they would rather be contacted in (their local time, within
    the legal 8:00 to 21:00). Seed 001's Customer Card > Info > Reminders."""

    debtor = models.OneToOneField(
        "accounts.Debtor", on_delete=models.CASCADE, primary_key=True, related_name="preference"
    )
    do_not_contact = models.BooleanField("Do not contact", default=False)
    do_not_contact_at = models.DateTimeField(null=True, blank=True)
    do_not_contact_source = models.CharField(max_length=100, blank=True)
    preferred_from = models.TimeField("Preferred hours from", null=True, blank=True)
    preferred_to = models.TimeField("Preferred hours to", null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(preferred_from__isnull=True, preferred_to__isnull=True)
                | models.Q(
                    preferred_from__isnull=False,
                    preferred_to__isnull=False,
                    preferred_from__lt=models.F("preferred_to"),
                ),
                name="preference_hours_ordered",
            )
        ]
        permissions = [
            ("change_contact_preferences", "Can change a debtor's contact preferences"),
            (
                "ignore_contact_preferences",
                "Can send past a debtor's preferred hours and the weekly caps "
                "(Ignore Contact Preferences)",
            ),
        ]


class LegalStop(models.Model):
    """Something about an account that forbids contacting the debtor about
    it while it lasts (``ended_at`` empty): a written cease-communication
    notice, an attorney, a pending dispute, death, bankruptcy."""

    class Kind(models.TextChoices):
        CEASE = "cease", "Cease communication (written notice)"
        ATTORNEY = "attorney", "Attorney represented"
        DISPUTE = "dispute", "Dispute pending"
        DECEASED = "deceased", "Deceased"
        BANKRUPTCY = "bankruptcy", "Bankruptcy"

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="legal_stops"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    since = models.DateField(default=timezone.localdate)
    source = models.CharField(
        max_length=100, blank=True, help_text="Letter, phone call, court, ..."
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind"],
                condition=models.Q(ended_at__isnull=True),
                name="legal_stop_once",
            )
        ]

    def __str__(self):
        return self.get_kind_display()


class Conversation(models.Model):
    """A telephone conversation with the debtor about an account, as the
    collector recorded it: Regulation F allows no call about that debt in
    the seven days after one (12 CFR 1006.14(b)(2)(ii))."""

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="conversations"
    )
    at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=255, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["account", "at"], name="conversation_account_idx")]


class ContactPolicy(models.Model):
    """A company's own contact limits and SMS keyword answers; a company
    without one has the defaults (no weekly caps)."""

    company = models.OneToOneField(
        "accounts.Company", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    max_emails_per_week = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Per debtor, any 7 days. Empty: no cap."
    )
    max_texts_per_week = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Per debtor, any 7 days. Empty: no cap."
    )
    help_text = models.CharField(
        "Answer to HELP",
        max_length=160,
        default="Reply STOP to opt out of texts. For help call us during business hours.",
    )

    class Meta:
        verbose_name_plural = "contact policies"


class StateCallLimit(models.Model):
    """A state's own limit on calls about one debt (Massachusetts: two in
    seven days, 940 CMR 7.04(1)(f)): the platform's rows for everyone, a
    company's own row for a state replacing the platform's."""

    company = models.ForeignKey(
        "accounts.Company", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=2)
    max_calls = models.PositiveSmallIntegerField()
    days = models.PositiveSmallIntegerField(default=7)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "state"], name="state_call_limit_once", nulls_distinct=False
            )
        ]

    def __str__(self):
        return f"{self.state}: {self.max_calls} calls in {self.days} days"
