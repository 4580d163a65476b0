"""Writes of the accounts app, each in a transaction with its audit record."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import GridPreference, SavedList
from accounts.tables import ALL_COLUMNS
from bulkops.services import record_audit_event


def save_grid_columns(*, user, columns: list[str]) -> GridPreference:
    """Remember the user's grid columns (unknown keys are dropped)."""
    columns = [c for c in columns if c in ALL_COLUMNS]
    preference, _ = GridPreference.objects.update_or_create(
        user=user, defaults={"columns": columns}
    )
    return preference


@transaction.atomic
def save_list(*, user, saved_list: SavedList | None, form, filter_query: str) -> SavedList:
    """Create or update a saved list from a valid SavedListForm. Only the
    owner may update; the caller checks that before."""
    before = None
    if saved_list is not None:
        before = {"name": saved_list.name, "filter_query": saved_list.filter_query}
    instance = form.save(commit=False)
    if saved_list is None:
        instance.owner = user
        instance.company = user.company
    instance.filter_query = filter_query
    instance.updated_at = timezone.now()
    instance.save()
    form.save_m2m()
    record_audit_event(
        actor=user,
        action="saved_list.updated" if before else "saved_list.created",
        obj=instance,
        changes={
            "name": (before and before["name"], instance.name),
            "filter_query": (before and before["filter_query"], instance.filter_query),
        },
    )
    return instance


@transaction.atomic
def delete_list(*, user, saved_list: SavedList) -> None:
    record_audit_event(
        actor=user,
        action="saved_list.deleted",
        obj=saved_list,
        changes={"name": (saved_list.name, None)},
    )
    saved_list.delete()
