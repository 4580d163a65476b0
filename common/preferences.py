"""Per-user table preferences, for any table: read the columns a user chose
(only those the table still knows, else its defaults) and remember a new
choice. A table passes its own catalogue of known keys, so this module
knows no table."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from django.utils.timezone import now

from common.models import TablePreference


def table_columns(user, table: str, *, known: Collection[str], default: Sequence[str]) -> list[str]:
    """The columns ``user`` chose for ``table`` that it still has (a column
    removed since is dropped), or ``default`` when none is left."""
    chosen = (
        TablePreference.objects.filter(user=user, table=table)
        .values_list("columns", flat=True)
        .first()
    )
    columns = [c for c in chosen or () if c in known]
    return columns or list(default)


def save_table_columns(
    user, table: str, columns: Sequence[str], *, known: Collection[str]
) -> TablePreference:
    """Remember ``user``'s columns for ``table`` in their order; unknown keys
    and repeats are dropped."""
    kept = list(dict.fromkeys(c for c in columns if c in known))
    preference, _ = TablePreference.objects.update_or_create(
        user=user, table=table, defaults={"columns": kept, "updated_at": now()}
    )
    return preference
