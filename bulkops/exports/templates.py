"""Saved export templates: a choice of format and columns (their order and
mask flags) under a name, private to its owner or shared with the owner's
company. The read, what keeps a template from being used, and the writes:
save (create or replace), share or make private, delete, each in a
transaction with its audit record."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from bulkops.exports.columns import Column
from bulkops.models import ExportFormat, ExportTemplate
from bulkops.services import record_audit_event

NOT_THE_OWNER = "Only the owner of a template may change or delete it."


def templates_visible_to(user) -> QuerySet[ExportTemplate]:
    """The user's own templates and those shared with their company."""
    if not user.is_authenticated:
        return ExportTemplate.objects.none()
    visible = Q(owner=user)
    if user.company_id is not None:
        visible |= Q(shared=True, company_id=user.company_id)
    return ExportTemplate.objects.filter(visible).select_related("owner").order_by("name", "pk")


def template_problem(template: ExportTemplate, available: dict[str, Column]) -> str | None:
    """Why a saved template cannot be used as it is, or None."""
    entries = template.columns if isinstance(template.columns, list) else []
    keys = [e.get("key") if isinstance(e, dict) else None for e in entries]
    if not keys:
        return f"The template “{template.name}” has no columns. Pick columns and save it again."
    unknown = [str(k) for k in keys if k not in available]
    if unknown:
        what = (
            "columns that no longer exist" if len(unknown) > 1 else "a column that no longer exists"
        )
        return (
            f"The template “{template.name}” names {what}: {', '.join(unknown)}. Nothing is "
            "exported with it: pick the columns again and save the template, or pick another."
        )
    if template.format not in ExportFormat.values:
        return f"The template “{template.name}” has an unknown format “{template.format}”."
    return None


def _audited(template: ExportTemplate) -> dict[str, Any]:
    return {
        "name": template.name,
        "format": template.format,
        "shared": template.shared,
        "columns": template.columns,
    }


@transaction.atomic
def save_template(
    *, user, name: str, file_format: str, columns: list[dict[str, Any]], shared: bool
) -> tuple[ExportTemplate, bool]:
    """Save ``columns`` ([{"key", "mask"}, ...] in order) and ``file_format``
    as the user's template ``name``, replacing the user's template of that
    name if there is one. Returns it and whether it was created."""
    existing = ExportTemplate.objects.select_for_update().filter(owner=user, name=name).first()
    before = _audited(existing) if existing else dict.fromkeys(("name", "format", "shared"))
    template, created = ExportTemplate.objects.update_or_create(
        owner=user,
        name=name,
        defaults={
            "company_id": user.company_id,
            "shared": shared,
            "format": file_format,
            "columns": columns,
            "updated_at": timezone.now(),
        },
    )
    after = _audited(template)
    record_audit_event(
        actor=user,
        action="export_template.created" if created else "export_template.updated",
        obj=template,
        changes={k: (before.get(k), v) for k, v in after.items() if before.get(k) != v},
    )
    return template, created


def _check_owner(user, template: ExportTemplate) -> None:
    if template.owner_id != user.pk:
        raise PermissionDenied(NOT_THE_OWNER)


@transaction.atomic
def share_template(*, user, template: ExportTemplate, shared: bool) -> ExportTemplate:
    """Share the owner's template with their company, or make it private."""
    _check_owner(user, template)
    before = template.shared
    template.shared = shared
    template.updated_at = timezone.now()
    template.save(update_fields=["shared", "updated_at"])
    record_audit_event(
        actor=user,
        action="export_template.shared" if shared else "export_template.unshared",
        obj=template,
        changes={"shared": (before, shared)},
    )
    return template


@transaction.atomic
def delete_template(*, user, template: ExportTemplate) -> None:
    _check_owner(user, template)
    record_audit_event(
        actor=user,
        action="export_template.deleted",
        obj=template,
        changes={"name": (template.name, None)},
    )
    template.delete()
