"""Reads of the accounts app. Every account query the UI or an action makes
starts from ``accounts_visible_to``: the one place tenant scoping lives."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Account


def accounts_visible_to(user) -> QuerySet[Account]:
    """The accounts ``user`` may see: those granted to the user's company.
    A superuser (the platform operator) sees all; anyone else without a
    company sees none."""
    if not user.is_authenticated or not user.is_active:
        return Account.objects.none()
    if user.is_superuser:
        return Account.objects.all()
    if user.company_id is None:
        return Account.objects.none()
    return Account.objects.filter(access__company_id=user.company_id)
