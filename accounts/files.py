"""Account files (seed 004, section 3): upload into quarantine, a virus scan
by ClamAV, release, download, deletion. Each step checks who asks and is
audited on the account (so the Diary shows it).

- An upload is refused, with the reason and nothing stored, when it is
  empty, over the company's size limit, or of a type its company does not
  accept, by what the content is (libmagic), never by the name. Its name
  is made safe (no folders, no control characters); the bytes are stored
  under a random name in the quarantine area of the default storage (a
  private folder or a bucket, as export files are).
- The scan streams the bytes to clamd (``clamav-client``). Clean: the file
  moves out of quarantine and is the account's. Infected: it stays, with
  the signature's name. An error, a time-out or clamd's size limit count
  as not clean (fail closed): retried, then left in quarantine with the
  reason. A scanner that cannot be reached leaves the file waiting ("waiting
  for the virus scanner") for the next sweep, however long it takes.
- A download is only of a released file, through a view that checks the
  right to see the account.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
import uuid
from urllib.parse import urlparse

import magic
from celery import current_app
from clamav_client.clamd import (
    BufferTooLongError,
    ClamdError,
    ClamdNetworkSocket,
    ClamdUnixSocket,
)
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.models import Account, AccountFile, FilePolicy
from accounts.models.files import DEFAULT_ALLOWED_TYPES, DEFAULT_MAX_BYTES
from accounts.selectors import accounts_visible_to
from bulkops.services import record_audit_event

logger = logging.getLogger(__name__)
UPLOAD_PERMISSION = "accounts.upload_accountfile"
QUARANTINE_PERMISSION = "accounts.manage_quarantine"
QUARANTINE, RELEASED = "account-files/quarantine/", "account-files/released/"
MAX_SCAN_ATTEMPTS = 3
MAX_NAME = 150
SNIFF_BYTES = 8192
WAITING = "Waiting for the virus scanner."
# libmagic names CSV and other plain text variously; all are text.
_TEXT_ALIASES = {
    "text/csv": "text/plain",
    "application/csv": "text/plain",
    "text/x-csv": "text/plain",
}


class ScannerUnavailable(Exception):
    """clamd could not be reached: the file waits."""


class ScanFailed(Exception):
    """clamd answered, but not "clean" nor "infected": not clean."""


# --- policy and names ------------------------------------------------------------------


def policy_of(company_id: int | None) -> tuple[set[str], int]:
    """The types the company accepts and its size limit (the defaults when
    it has set none)."""
    policy = FilePolicy.objects.filter(company_id=company_id).first()
    if policy is None:
        return set(DEFAULT_ALLOWED_TYPES), DEFAULT_MAX_BYTES
    return set(policy.allowed_types or DEFAULT_ALLOWED_TYPES), policy.max_bytes


def safe_name(raw: str) -> str:
    """The name shown and offered on download: the last part of the path
    only, no control or format characters, no leading dots, at most 150
    characters (the extension kept)."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split()).strip(" .")
    if not name:
        return "file"
    if len(name) > MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        keep = extension[:10] if dot else ""
        name = (stem if dot else name)[: MAX_NAME - len(keep) - 1].rstrip(" .") + (
            f".{keep}" if keep else ""
        )
    return name


def sniff(head: bytes) -> str:
    """The MIME type the content shows (libmagic)."""
    kind = magic.from_buffer(head, mime=True) or "application/octet-stream"
    return _TEXT_ALIASES.get(kind, kind)


def _allowed(kind: str, allowed: set[str]) -> bool:
    return kind in allowed or (kind == "text/plain" and "text/csv" in allowed)


# --- upload ----------------------------------------------------------------------------


def _require(actor, account: Account, permission: str) -> None:
    if not actor.has_perm(permission):
        raise PermissionDenied("Your role may not do this.")
    if not accounts_visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("That account is not available to you.")


def upload(*, actor, account: Account, uploaded) -> AccountFile:
    """Quarantine one uploaded file (a Django ``UploadedFile``) and queue its scan."""
    _require(actor, account, UPLOAD_PERMISSION)
    name = safe_name(uploaded.name)
    allowed, max_bytes = policy_of(account.company_id)
    if not uploaded.size:
        raise ValidationError(f"{name} is empty: nothing to keep.")
    if uploaded.size > max_bytes:
        raise ValidationError(
            f"{name} is {uploaded.size / 2**20:.1f} MB; at most {max_bytes / 2**20:.0f} MB a file."
        )
    uploaded.seek(0)
    kind = sniff(uploaded.read(SNIFF_BYTES))
    if not _allowed(kind, allowed):
        raise ValidationError(f"{name} is {kind}, which your company does not accept.")
    digest = hashlib.sha256()
    uploaded.seek(0)
    for chunk in uploaded.chunks():
        digest.update(chunk)
    uploaded.seek(0)
    stored = default_storage.save(f"{QUARANTINE}{uuid.uuid4().hex}", File(uploaded))
    try:
        with transaction.atomic():
            held = AccountFile.objects.create(
                account=account,
                name=name,
                size=uploaded.size,
                content_type=kind,
                sha256=digest.hexdigest(),
                storage_name=stored,
                uploaded_by=actor,
                reason=WAITING,
            )
            record_audit_event(
                actor=actor,
                action="file.uploaded",
                obj=account,
                changes={"file": (None, f"{name} ({kind}, {uploaded.size} bytes)")},
            )
            transaction.on_commit(lambda: _queue_scan(held.pk))
    except Exception:
        default_storage.delete(stored)
        raise
    return held


def _queue_scan(file_id: int) -> None:
    """The scan's task, by name (services do not import the task module). A
    broker that cannot be reached leaves the file waiting for the sweep."""
    try:
        current_app.send_task("accounts.scan_account_file", args=[file_id])
    except OperationalError as error:
        logger.warning("file %s: the task queue cannot be reached (%s)", file_id, error)


# --- the scan --------------------------------------------------------------------------


def scanner():
    """A clamd client from ``CLAMD_URL`` (unix:///path or tcp://host:port),
    None when none is configured."""
    url = getattr(settings, "CLAMD_URL", "")
    if not url:
        return None
    parts = urlparse(url)
    timeout = getattr(settings, "CLAMD_TIMEOUT", 30)
    if parts.scheme == "unix":
        return ClamdUnixSocket(parts.path, timeout=timeout)
    return ClamdNetworkSocket(parts.hostname or "127.0.0.1", parts.port or 3310, timeout=timeout)


def _verdict(stored_name: str) -> tuple[str, str]:
    """("clean" | "infected", signature) from clamd; raises ScannerUnavailable
    or ScanFailed."""
    client = scanner()
    if client is None:
        raise ScannerUnavailable("no scanner is configured (CLAMD_URL)")
    try:
        with default_storage.open(stored_name, "rb") as stream:
            results = client.instream(stream)
    except BufferTooLongError as error:
        raise ScanFailed("larger than the scanner's size limit") from error
    except (ConnectionRefusedError, FileNotFoundError) as error:
        raise ScannerUnavailable(str(error)) from error
    except (BrokenPipeError, ConnectionResetError) as error:
        # clamd hangs up on a stream past its StreamMaxLength.
        raise ScanFailed("the scanner hung up: over its size limit, or failing") from error
    except TimeoutError as error:
        raise ScanFailed("the scan timed out") from error
    except (ConnectionError, ClamdError, OSError) as error:
        # clamav-client reports a refused or missing socket as its own ConnectionError.
        if "refused" in str(error).lower() or "no such file" in str(error).lower():
            raise ScannerUnavailable(str(error)) from error
        raise ScanFailed(f"the scanner failed: {error}") from error
    status, signature = next(iter(results.values()), ("ERROR", "no answer"))
    if status == "OK":
        return "clean", ""
    if status == "FOUND":
        return "infected", signature or "unknown"
    raise ScanFailed(f"the scanner answered {status}: {signature}")


def scan(file_id: int) -> str:
    """Scan one waiting file; returns its state afterwards. A scanner that
    cannot be reached leaves it waiting (raises ScannerUnavailable, for the
    task to try later); another failure counts an attempt (raises ScanFailed
    until the last, which leaves it in quarantine as not scanned). The row
    is locked for the scan: two workers never scan one file."""
    retry: Exception | None = None
    with transaction.atomic():
        held = (
            AccountFile.objects.select_for_update(skip_locked=True)
            .filter(pk=file_id, state=AccountFile.State.WAITING)
            .select_related("account")
            .first()
        )
        if held is None:
            return "not waiting"
        try:
            verdict, signature = _verdict(held.storage_name)
        except ScannerUnavailable as unavailable:
            held.reason = WAITING
            held.save(update_fields=["reason"])
            retry = unavailable
        except ScanFailed as failure:
            held.attempts += 1
            last = held.attempts >= MAX_SCAN_ATTEMPTS
            held.reason = f"Not clean: {failure}." + (" Not retried." if last else " Retried.")
            if last:
                held.state, held.scanned_at = AccountFile.State.FAILED, timezone.now()
                _audit_scan(held, "file.scan_failed", str(failure))
            else:
                retry = failure
            held.save(update_fields=["attempts", "reason", "state", "scanned_at"])
        else:
            _record_verdict(held, verdict, signature)
    if retry is not None:
        raise retry
    return held.state


def _record_verdict(held: AccountFile, verdict: str, signature: str) -> None:
    held.scanned_at = timezone.now()
    if verdict == "infected":
        held.state, held.signature = AccountFile.State.INFECTED, signature[:200]
        held.reason = f"Infected: {signature}"[:300]
        held.save(update_fields=["state", "signature", "reason", "scanned_at"])
        _audit_scan(held, "file.infected", signature)
        return
    with default_storage.open(held.storage_name, "rb") as stream:
        released = default_storage.save(f"{RELEASED}{uuid.uuid4().hex}", File(stream))
    quarantined = held.storage_name
    held.state, held.storage_name, held.reason = AccountFile.State.CLEAN, released, ""
    held.save(update_fields=["state", "storage_name", "reason", "scanned_at"])
    _audit_scan(held, "file.released", "clean")
    transaction.on_commit(lambda: default_storage.delete(quarantined))


def _audit_scan(held: AccountFile, action: str, result: str) -> None:
    record_audit_event(
        actor=None,
        action=action,
        obj=held.account,
        changes={"file": (held.name, result)},
    )


def waiting_files(limit: int = 500) -> list[int]:
    """Files still waiting for a scan (the sweep queues them again)."""
    return list(
        AccountFile.objects.filter(state=AccountFile.State.WAITING)
        .order_by("uploaded_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- download and deletion -----------------------------------------------------------


def files_visible_to(user):
    return AccountFile.objects.filter(account__in=accounts_visible_to(user))


def open_for_download(*, actor, held: AccountFile):
    """The released file's bytes (a storage file to stream), audited."""
    if not actor.has_perm("accounts.view_accountfile"):
        raise PermissionDenied("Your role may not download files.")
    if not files_visible_to(actor).filter(pk=held.pk).exists():
        raise PermissionDenied("That file is not available to you.")
    if not held.released:
        raise PermissionDenied("That file is in quarantine: it cannot be downloaded.")
    stream = default_storage.open(held.storage_name, "rb")
    record_audit_event(
        actor=actor, action="file.downloaded", obj=held.account, changes={"file": (held.name, None)}
    )
    return stream


@transaction.atomic
def delete_file(*, actor, held: AccountFile) -> None:
    """An admin deletes a file (in quarantine or released), audited."""
    if not actor.has_perm(QUARANTINE_PERMISSION):
        raise PermissionDenied("Only an admin deletes files.")
    if not files_visible_to(actor).filter(pk=held.pk).exists():
        raise PermissionDenied("That file is not available to you.")
    name, stored, account = held.name, held.storage_name, held.account
    held.delete()
    record_audit_event(
        actor=actor,
        action="file.deleted",
        obj=account,
        changes={"file": (f"{name} ({held.get_state_display().lower()})", None)},
    )
    transaction.on_commit(lambda: default_storage.delete(stored))
