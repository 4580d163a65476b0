"""Bulk operations and the audit trail."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class BulkOperation(models.Model):
    """One confirmed bulk action over a snapshot of a list's rows.

    Its life: pending approval (when its action's approval rule applies, until
    another eligible user approves or rejects it, or its run-at date passes:
    expired), scheduled (until its run-at date), queued, running, then
    succeeded, finished with failures or cancelled. The state changes are the
    methods below; ``bulkops.services`` decides when."""

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Waiting for approval"
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Finished with failures"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"

    kind = models.CharField(max_length=50, db_index=True)
    target = models.CharField(
        max_length=50,
        blank=True,
        default="",
        help_text="The list its rows are from (a registered selectable).",
    )
    company = models.ForeignKey(
        "accounts.Company",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for an operation of the platform operator (superuser).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bulk_operations"
    )
    parameters = models.JSONField(default=dict)
    selection = models.JSONField(default=dict, help_text="The selection as shown when confirmed.")
    confirmed_count = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    cursor = models.BigIntegerField(
        default=0, help_text="Items up to this row id have been through a chunk."
    )
    seed = models.BigIntegerField(
        default=0, help_text="Seeds any random draw of the action (Assign To), for reproducibility."
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time a worker committed a chunk."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    run_at = models.DateTimeField(
        null=True, blank=True, help_text="When it may start (a scheduled send), if not at once."
    )
    approval_reason = models.CharField(
        max_length=255, blank=True, help_text="Why it waits for another user's approval."
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who approved or rejected it.",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, help_text="The reason given for a rejection.")
    undoes = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="undone_by",
        help_text="The operation whose changes this one reverses.",
    )

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    WAITING = (Status.PENDING_APPROVAL, Status.SCHEDULED)
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.REJECTED, Status.EXPIRED)

    # Not stored: set by bulkops.services when it sends this operation's task
    # on commit; False when the task queue could not be reached (the sweeper
    # sends it later), None when nothing was sent (yet).
    enqueued: bool | None = None

    class Meta:
        ordering = ["-created_at"]
        permissions = [("cancel_bulkoperation", "Can cancel or retry bulk operations")]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="bulkop_status_idx")]
        constraints = [
            # An operation reverses at most one other, and is reversed at most once.
            models.UniqueConstraint(
                fields=["undoes"],
                condition=models.Q(undoes__isnull=False),
                name="bulkop_undone_once",
            ),
        ]

    def __str__(self):
        return f"{self.kind} #{self.pk}"

    @property
    def is_active(self) -> bool:
        """Queued or running: a worker has (or will at once have) it."""
        return self.status in self.ACTIVE

    @property
    def is_waiting(self) -> bool:
        """Waiting for an approval or for its run-at date."""
        return self.status in self.WAITING

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    # --- state changes (saved by the caller, in its transaction) ---------------

    def wait_for_approval(self, reason: str) -> None:
        self.status = self.Status.PENDING_APPROVAL
        self.approval_reason = reason[:255]

    def release(self, now) -> None:
        """Let it go ahead: queued now, or scheduled until its run-at date."""
        due = self.run_at is None or self.run_at <= now
        self.status = self.Status.QUEUED if due else self.Status.SCHEDULED

    def decide(self, *, user, now, approved: bool, note: str = "") -> None:
        self.decided_by = user
        self.decided_at = now
        self.decision_note = note
        if approved:
            self.release(now)
        else:
            self.status = self.Status.REJECTED
            self.finished_at = now

    def expire(self, now) -> None:
        self.status = self.Status.EXPIRED
        self.finished_at = now

    def mark_running(self, now) -> None:
        if self.status == self.Status.QUEUED:
            self.status = self.Status.RUNNING
            self.started_at = self.started_at or now

    def mark_finished(self, now, *, error: str = "") -> None:
        """Succeeded, or finished with failures when any row failed or the
        action's last step did (``error``)."""
        failed = self.failed or error
        self.status = self.Status.FAILED if failed else self.Status.SUCCEEDED
        self.error = error[:1000]
        self.finished_at = now
        self.heartbeat_at = now

    def mark_cancelled(self, now, *, skipped: int) -> None:
        self.status = self.Status.CANCELLED
        self.skipped += skipped
        self.finished_at = now

    def record_chunk(self, now, *, rows: int, skipped: int, failed: int, last_row: int) -> None:
        """A chunk committed: its counts, and the cursor past its last row."""
        self.processed += rows
        self.succeeded += rows - skipped - failed
        self.skipped += skipped
        self.failed += failed
        self.heartbeat_at = now
        self.cursor = last_row

    def requeue_failed(self, count: int) -> None:
        """Retry: the failed rows are pending again, from the first row on."""
        self.processed -= count
        self.failed -= count
        self.status = self.Status.QUEUED
        self.cancel_requested = False
        self.finished_at = None
        self.cursor = 0  # the failed items sit anywhere in the range

    @property
    def elapsed_seconds(self) -> float:
        if self.started_at is None:
            return 0.0
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def remaining_seconds(self) -> float | None:
        """Estimated from the rate so far; None until there is a rate."""
        if not self.processed or self.started_at is None:
            return None
        rate = self.processed / max(self.elapsed_seconds, 0.001)
        return (self.total - self.processed) / rate

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.processed / self.total)


class BulkOperationItemQuerySet(models.QuerySet):
    def with_settled_outcome(self):
        """Each item's outcome as ``settled_outcome``: an item still pending at
        or before its operation's cursor was done (see BulkOperationItem)."""
        Outcome = BulkOperationItem.Outcome
        return self.annotate(
            settled_outcome=models.Case(
                models.When(
                    outcome=Outcome.PENDING,
                    target_id__lte=models.F("operation__cursor"),
                    then=models.Value(Outcome.DONE),
                ),
                default=models.F("outcome"),
                output_field=models.CharField(),
            )
        )

    def unprocessed(self):
        """Items no chunk has reached yet."""
        return self.filter(
            outcome=BulkOperationItem.Outcome.PENDING,
            target_id__gt=models.F("operation__cursor"),
        )


class BulkOperationItem(models.Model):
    """One account of an operation's snapshot and what happened to it.

    Skipped and failed outcomes, with their reason, are written in the same
    transaction as the chunk's changes. "Done" is not written: a chunk is the
    pending items after the operation's cursor up to its last account, and it
    moves the cursor there when it commits, so an item still pending at or
    before the cursor was done (``with_settled_outcome``). Writing it would
    rewrite every item of a million-account operation once more: a second
    of a 10-second export. A retry settles them for real before it moves
    the cursor back. Done items therefore have no ``processed_at``: the
    operation's start and finish say when."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    # No database-level foreign keys: the items are selected from the list's
    # rows in the transaction that creates the operation, so they hold by
    # construction, and checking a million of them at commit (two lookups an
    # item) was most of the time a "select all" took to confirm. Deleting an
    # operation still cascades here (Django's collector); an item whose row
    # was deleted since stays, as the record of what happened to it.
    operation = models.ForeignKey(
        BulkOperation,
        on_delete=models.CASCADE,
        related_name="items",
        db_constraint=False,
        db_index=False,  # bulkop_item_unique starts with it
    )
    target_id = models.BigIntegerField(
        help_text="The row of the operation's list (an account, say)."
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    argument = models.CharField(
        max_length=64, blank=True, help_text="Per-account parameter, e.g. the drawn collector."
    )
    reason = models.CharField(max_length=255, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    objects = BulkOperationItemQuerySet.as_manager()

    class Meta:
        # Chunks are read by (operation, row) ranges after the operation's
        # cursor, so the outcome needs no index: writing one changes no indexed
        # column and PostgreSQL can update the row in place (HOT).
        constraints = [
            models.UniqueConstraint(fields=["operation", "target_id"], name="bulkop_item_unique"),
        ]
        # Which operations hold a row (the overlap check); outcome writes never touch it.
        indexes = [models.Index(fields=["target_id"], name="bulkop_item_target_idx")]

    def __str__(self):
        return f"{self.operation_id}/{self.target_id}: {self.settled}"

    @property
    def settled(self) -> str:
        """The settled outcome (annotated by ``with_settled_outcome``, or worked
        out from the operation's cursor)."""
        annotated = getattr(self, "settled_outcome", None)
        if annotated is not None:
            return annotated
        if self.outcome == self.Outcome.PENDING and self.target_id <= self.operation.cursor:
            return self.Outcome.DONE
        return self.outcome

    def get_settled_display(self) -> str:
        return self.Outcome(self.settled).label


class BulkOperationChunk(models.Model):
    """A chunk that committed: its range of rows and when. Done items are
    not written one by one (the cursor records them), so this is where the
    time a row was processed comes from (``processed_times``)."""

    operation = models.ForeignKey(
        BulkOperation,
        on_delete=models.CASCADE,
        related_name="chunks",
        db_constraint=False,
        db_index=False,  # bulkop_chunk_range_idx starts with it
    )
    first_target_id = models.BigIntegerField()
    last_target_id = models.BigIntegerField()
    rows = models.PositiveIntegerField()
    committed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["operation", "last_target_id"], name="bulkop_chunk_range_idx")
        ]

    def __str__(self):
        return f"{self.operation_id}: {self.first_target_id}-{self.last_target_id}"


class AuditEvent(models.Model):
    """One change to one object: who, what, which fields (before and after),
    when, the company it belongs to, and the bulk operation it came from.
    Written only through ``bulkops.services.audit``.

    ``company`` is the tenant whose row changed (an account's owner, a user's
    company; the actor's company when the object has none), set when the
    event is written, so that a company's audit log is one index range
    instead of a search through every event."""

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database-level constraints on these: set-based writes of a million
    # events would pay a check each at commit; they hold by construction.
    company = models.ForeignKey(
        "accounts.Company",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,  # audit_company_idx below
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # audit_actor_idx below
    )
    action = models.CharField(max_length=50)
    object_type = models.CharField(max_length=50, help_text="app_label.model")
    object_id = models.BigIntegerField()
    changes = models.JSONField(default=dict, help_text='{"field": [before, after]}')
    # No database-level constraint: a bulk operation writes a million events
    # that all name the operation it has just created, and the trail must
    # outlive the operation row anyway (Django sets it to NULL on delete).
    bulk_operation = models.ForeignKey(
        BulkOperation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
        db_constraint=False,
        db_index=False,  # audit_operation_idx below; one index, not two, per event
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        # Each list the log shows is one of these ranges, newest first.
        indexes = [
            models.Index(
                fields=["object_type", "object_id", "occurred_at"], name="audit_object_idx"
            ),
            models.Index(
                fields=["bulk_operation", "occurred_at", "id"], name="audit_operation_idx"
            ),
            models.Index(fields=["company", "occurred_at", "id"], name="audit_company_idx"),
            models.Index(fields=["actor", "occurred_at", "id"], name="audit_actor_idx"),
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


# --- exports (the Export action: bulkops.exports) ---------------------------------------


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (XLSX)"


class ExportTemplate(models.Model):
    """A saved choice of export format and columns (with their order and
    mask flags), private to its owner or shared with the owner's company."""

    name = models.CharField("Template name", max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_templates"
    )
    company = models.ForeignKey(
        "accounts.Company", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    shared = models.BooleanField(
        "Shared with my company", default=False, help_text="Private to the owner unless shared."
    )
    format = models.CharField(max_length=10, choices=ExportFormat.choices, default="csv")
    columns = models.JSONField(
        default=list, help_text='The columns in order: [{"key": "file_number", "mask": false}, ...]'
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="export_template_unique_name"),
        ]

    def __str__(self):
        return self.name


class ExportFile(models.Model):
    """The assembled file of one export operation, in the default storage."""

    operation = models.OneToOneField(
        BulkOperation, on_delete=models.CASCADE, related_name="export_file"
    )
    name = models.CharField(max_length=255, help_text="The file's name in the default storage.")
    format = models.CharField(max_length=10, choices=ExportFormat.choices)
    rows = models.PositiveIntegerField(default=0, help_text="Data rows, without headers.")
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(help_text="The download link stops working then.")
    purged_at = models.DateTimeField(
        null=True, blank=True, help_text="When the expired file was deleted from storage."
    )

    class Meta:
        permissions = [
            ("download_any_export", "Can download the exports of anyone in the company"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at


class ExportPart(models.Model):
    """One chunk's rows, written in the chunk's transaction: a chunk that is
    rolled back leaves no row (its file, if any, is overwritten when the chunk
    is redone, or deleted at the end), so the file holds each account once."""

    operation = models.ForeignKey(BulkOperation, on_delete=models.CASCADE, related_name="+")
    first_account_id = models.BigIntegerField()
    name = models.CharField(max_length=255)
    rows = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["operation", "first_account_id"], name="export_part_unique"
            ),
        ]

    def __str__(self):
        return self.name


class SelectionFile(models.Model):
    """An uploaded file of rows to select in a list (a CSV of file numbers
    for the accounts grid): the rows it named that its owner may see, kept
    until ``SELECTION_FILE_TTL_DAYS`` after upload. Selecting it is a filter
    of the list (``file=<id>``) that only its owner can use."""

    selectable = models.CharField(max_length=50)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="selection_files"
    )
    name = models.CharField(max_length=255)
    uploaded_at = models.DateTimeField(default=timezone.now, db_index=True)
    lines = models.PositiveIntegerField(help_text="Values read from the file.")
    found = models.PositiveIntegerField(help_text="Distinct rows those values named.")
    not_found = models.JSONField(
        default=list, help_text="The first values not found: [line, value] pairs."
    )
    not_found_count = models.PositiveIntegerField(default=0)

    def __str__(self):
        return self.name


class SelectionFileRow(models.Model):
    """One row a selection file named, with the first line naming it."""

    file = models.ForeignKey(SelectionFile, on_delete=models.CASCADE, related_name="rows")
    target_id = models.BigIntegerField()
    line = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["file", "target_id"], name="selection_file_row_unique")
        ]
