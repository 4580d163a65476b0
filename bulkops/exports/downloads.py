"""Who may download an export's file, until when, and why not."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from bulkops.exports.action import ExportAction
from bulkops.models import BulkOperation, ExportFile
from bulkops.registry import get_action, wording_for

DOWNLOAD_ANY_PERMISSION = "bulkops.download_any_export"
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Download:
    """Whether ``user`` may download an operation's file, and why not."""

    status: str  # "ready", "forbidden" (403), "expired" (410), "none" (no file)
    message: str = ""
    file: ExportFile | None = None
    filename: str = ""  # what the browser saves it as

    HTTP_STATUS = {"ready": 200, "forbidden": 403, "expired": 410, "none": 404}

    @property
    def http_status(self) -> int:
        return self.HTTP_STATUS[self.status]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.file.format]


def may_download(user, operation: BulkOperation, action: ExportAction) -> bool:
    """The export's creator (while still allowed to export) and whoever may
    download any export (Admins). Company scoping is the caller's: the
    operation must be one ``operations_visible_to(user)`` returns."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(DOWNLOAD_ANY_PERMISSION):
        return True
    return operation.created_by_id == user.pk and user.has_perm(action.permission)


def download_state(user, operation: BulkOperation) -> Download:
    """An operation has a file when its action makes one (an export)."""
    action = get_action(operation.kind)
    if not isinstance(action, ExportAction):
        return Download("none", "This operation is not an export.")
    export_file = ExportFile.objects.filter(operation=operation).first()
    if export_file is None:
        if operation.is_active:
            return Download("none", "The file is being prepared.")
        noun = wording_for(action).noun
        return Download("none", f"There is no file: no {noun} was exported.")
    if not may_download(user, operation, action):
        return Download(
            "forbidden",
            "Only the person who ran this export and Admins may download its file.",
            export_file,
        )
    if export_file.is_expired:
        expired_on = timezone.localtime(export_file.expires_at).strftime("%Y-%m-%d %H:%M")
        return Download(
            "expired",
            f"The download link expired on {expired_on}. Run the export again.",
            export_file,
        )
    filename = f"{action.catalogue.file_stem}-export-{operation.pk}.{export_file.format}"
    return Download("ready", "", export_file, filename)
