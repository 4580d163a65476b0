"""Reads of the communications app, scoped to the user's company."""

from __future__ import annotations

from django.db.models import QuerySet

from communications.models import MessageTemplate


def templates_visible_to(user) -> QuerySet[MessageTemplate]:
    """The user's company's templates (every company's for the platform
    operator); never another company's."""
    if user is None or not user.is_authenticated:
        return MessageTemplate.objects.none()
    queryset = MessageTemplate.objects.select_related("company", "updated_by")
    if user.is_superuser:
        return queryset
    return queryset.filter(company_id=user.company_id)
