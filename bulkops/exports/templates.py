"""Saved export templates: a choice of format and columns (their order and
mask flags) under a name, private to its owner or shared with the owner's
company. The read, and what keeps a template from being used."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from bulkops.exports.columns import Column
from bulkops.models import ExportFormat, ExportTemplate


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
