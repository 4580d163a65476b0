"""Bulk operations and the audit trail."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class BulkOperation(models.Model):
    """One confirmed bulk action over a snapshot of accounts."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Finished with failures"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=50, db_index=True)
    company = models.ForeignKey("accounts.Company", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bulk_operations"
    )
    parameters = models.JSONField(default=dict)
    selection = models.JSONField(default=dict, help_text="The selection as shown when confirmed.")
    confirmed_count = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("cancel_bulkoperation", "Can cancel or retry bulk operations")]

    def __str__(self):
        return f"{self.kind} #{self.pk}"


class AuditEvent(models.Model):
    """One change to one object: who, what, which fields (before and after),
    when, and the bulk operation it came from. Written only through
    ``bulkops.services.audit``."""

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=50)
    object_type = models.CharField(max_length=50, help_text="app_label.model")
    object_id = models.BigIntegerField()
    changes = models.JSONField(default=dict, help_text='{"field": [before, after]}')
    bulk_operation = models.ForeignKey(
        BulkOperation, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(
                fields=["object_type", "object_id", "occurred_at"], name="audit_object_idx"
            ),
            models.Index(fields=["bulk_operation"], name="audit_operation_idx"),
        ]

    def __str__(self):
        return f"{self.action} {self.object_type}#{self.object_id}"


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker ran the heartbeat task (scheduled by
    beat), so the UI can say whether bulk operations will be processed."""

    worker = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self):
        return f"{self.worker} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
