"""What collectors do on an account (seed 004): tasks for queues and groups,
interactions with the debtor, and each user's layout of the account page.

Queues and groups belong to one company (there are no platform defaults:
who works which queue is a company's own organisation). The interaction's
outcomes and delinquency reasons are configuration like the note types:
the platform's defaults plus each company's own.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from accounts.models import _owner_company, _unique_per_company

# The platform's interaction outcomes and delinquency reasons (the migration
# that made the tables keeps its own frozen copy; the demo's reset uses these).
DEFAULT_OUTCOMES = [
    "Promise to pay",
    "Payment made",
    "Refused to pay",
    "Dispute raised",
    "Left message",
    "No answer",
    "Wrong number",
    "Call back requested",
]
DEFAULT_REASONS = [
    "Unemployment",
    "Illness or injury",
    "Reduced income",
    "Forgot to pay",
    "Disputes the debt",
    "Bereavement",
    "Other",
]


class _Team(models.Model):
    """A company's queue or group of users that tasks are assigned to."""

    company = models.ForeignKey(
        "accounts.Company", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    is_active = models.BooleanField(default=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self):
        return self.name


class WorkQueue(_Team):
    """A queue of work (seed 004's "Queue"); a task for it may also name one
    of its members."""

    class Meta(_Team.Meta):
        verbose_name = "queue"
        constraints = [
            models.UniqueConstraint(
                fields=["company", "name"],
                name="workqueue_company_name_uniq",
                violation_error_message="A queue with this name exists.",
            )
        ]


class WorkGroup(_Team):
    """A group of users (seed 004's "Group"); a task for it is anyone's in it."""

    class Meta(_Team.Meta):
        verbose_name = "group"
        constraints = [
            models.UniqueConstraint(
                fields=["company", "name"],
                name="workgroup_company_name_uniq",
                violation_error_message="A group with this name exists.",
            )
        ]


class Task(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="tasks")
    queue = models.ForeignKey(
        WorkQueue, on_delete=models.PROTECT, null=True, blank=True, related_name="tasks"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tasks",
        help_text="A user of the queue (optional).",
    )
    group = models.ForeignKey(
        WorkGroup, on_delete=models.PROTECT, null=True, blank=True, related_name="tasks"
    )
    due_date = models.DateField()
    tags = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["due_date", "pk"]
        constraints = [
            # A queue or a group, never both; a user only with a queue.
            models.CheckConstraint(
                condition=(
                    models.Q(queue__isnull=False, group__isnull=True)
                    | models.Q(queue__isnull=True, group__isnull=False, assignee__isnull=True)
                ),
                name="task_queue_or_group",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "created_at"], name="task_account_idx"),
            models.Index(fields=["assignee", "status", "due_date"], name="task_assignee_idx"),
            models.Index(fields=["queue", "status", "due_date"], name="task_queue_idx"),
            models.Index(fields=["group", "status", "due_date"], name="task_group_idx"),
        ]

    def __str__(self):
        return f"Task for {self.queue or self.group} due {self.due_date}"

    @property
    def tags_text(self) -> str:
        return ", ".join(self.tags)


class _Choice(models.Model):
    """A configured choice: a platform default (no company) or a company's own."""

    company = _owner_company("+")
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self):
        return self.name


class InteractionOutcome(_Choice):
    """What came of a contact (Promise made, Refused to pay, No answer, ...)."""

    class Meta(_Choice.Meta):
        constraints = _unique_per_company(
            "interactionoutcome", "name", message="An outcome with this name exists."
        )


class DelinquencyReason(_Choice):
    """Why the debtor is behind (Unemployment, Illness or injury, ...)."""

    class Meta(_Choice.Meta):
        constraints = _unique_per_company(
            "delinquencyreason", "name", message="A reason with this name exists."
        )


class Interaction(models.Model):
    """One contact with the debtor, recorded by the collector (Add Interaction)."""

    class Method(models.TextChoices):
        PHONE = "phone", "Phone call"
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        LETTER = "letter", "Letter"
        IN_PERSON = "in_person", "In person"
        OTHER = "other", "Other"

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "Outbound (we contacted them)"
        INBOUND = "inbound", "Inbound (they contacted us)"

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="interactions"
    )
    method = models.CharField("Communication method", max_length=10, choices=Method.choices)
    outcome = models.ForeignKey(InteractionOutcome, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(
        "Direction of the contact", max_length=10, choices=Direction.choices
    )
    delinquency_reason = models.ForeignKey(
        DelinquencyReason,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="Reason for delinquency",
    )
    additional_information = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "created_at"], name="interaction_account_idx")]

    def __str__(self):
        return f"{self.get_method_display()}: {self.outcome}"


class AccountPageLayout(models.Model):
    """The widgets of the Account Details tab, in order, each with its width
    (Edit Layout): a user's own, or their company's default (no user), set
    by an admin. ``widgets`` is a list of {"key": a registered widget,
    "width": 4|6|8|12} and {"label": ..., "fields": [custom field ids],
    "width": ...} for a custom widget; ``accounts.layout`` checks it."""

    company = models.ForeignKey("accounts.Company", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: the company's default layout.",
    )
    widgets = models.JSONField(default=list)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(user__isnull=False), name="layout_user_uniq"
            ),
            models.UniqueConstraint(
                fields=["company"],
                condition=models.Q(user__isnull=True),
                name="layout_company_default_uniq",
            ),
        ]

    def __str__(self):
        return f"Layout of {self.user or self.company}"
