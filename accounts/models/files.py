"""Files of an account (seed 004, section 3). Every upload is held in a
quarantine area until the virus scanner says it is clean; only then is it
the account's file, downloadable. ``accounts.files`` moves them along."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.timezone import now

# What a company accepts by default, by the type the content shows (never
# the name's extension): PDF, images, office documents, text and CSV.
DEFAULT_ALLOWED_TYPES = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/tiff",
    "image/webp",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "text/plain",
    "text/csv",
]
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


class FilePolicy(models.Model):
    """A company's rules for uploads: the types it accepts, the size limit."""

    company = models.OneToOneField(
        "accounts.Company", on_delete=models.CASCADE, related_name="file_policy"
    )
    allowed_types = models.JSONField(
        default=list, help_text="MIME types, as the content shows them (libmagic)."
    )
    max_bytes = models.PositiveIntegerField(default=DEFAULT_MAX_BYTES)

    class Meta:
        verbose_name_plural = "file policies"

    def __str__(self):
        return f"File policy of {self.company}"


class AccountFile(models.Model):
    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for the virus scanner"
        CLEAN = "clean", "Clean"
        INFECTED = "infected", "Infected"
        FAILED = "failed", "Not scanned"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=200, help_text="As uploaded, made safe.")
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100, help_text="What the content is (libmagic).")
    sha256 = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=300, help_text="Where the bytes are now.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING)
    signature = models.CharField(max_length=200, blank=True, help_text="What the scanner found.")
    reason = models.CharField(max_length=300, blank=True, help_text="Why it is not released.")
    attempts = models.PositiveSmallIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=now)
    scanned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]
        indexes = [
            models.Index(fields=["account", "uploaded_at"], name="accountfile_account_idx"),
            models.Index(
                fields=["uploaded_at"],
                condition=models.Q(state="waiting"),
                name="accountfile_waiting_idx",
            ),
        ]
        permissions = [
            ("upload_accountfile", "Can upload files to accounts"),
            ("manage_quarantine", "Can see and delete quarantined files"),
        ]

    def __str__(self):
        return self.name

    @property
    def released(self) -> bool:
        return self.state == self.State.CLEAN
