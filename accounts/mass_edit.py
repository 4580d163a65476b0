"""The writes of Mass Edit (seed 003) that no other action makes: a field of
the account set to one value, a company's access granted or removed, a
secondary role set or cleared, a custom field set or cleared, a note or an
alert added to every account. Each is set-based over a chunk's account ids,
audited one event per changed field, and returns the ``Outcomes`` of the
accounts it was given (done unless skipped, with the reason), like
``accounts.services``.

Each audited change names what it changed so that Undo can put it back:
a field by its name, a role as ``role:<role>``, a custom field as
``custom:<key>``, a company's access as ``access:<company id>``; an added
alert is an event about the alert (``is_active``: None to True)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery, TextField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import (
    Account,
    AccountAccess,
    AccountRoleAssignment,
    Alert,
    CustomField,
    CustomFieldValue,
    Note,
)
from bulkops.registry import Outcomes
from bulkops.services import (
    audited_update,
    record_audit_events,
    record_field_change,
    record_same_change,
)

# The account's own fields Mass Edit sets to one value, with the audit
# action of each (Assigned To, Status and Stage go through accounts.services).
ACCOUNT_FIELDS = {
    "file_type": "account.file_type_changed",
    "created_by": "account.created_by_changed",
    "created_at": "account.created_at_changed",
}


def role_key(role: str) -> str:
    return f"role:{role}"


def custom_key(field: CustomField) -> str:
    return f"custom:{field.key}"


def access_key(company_id: int) -> str:
    return f"access:{company_id}"


@transaction.atomic
def set_account_field(
    *, actor, account_ids: list[int], field: str, value: Any, bulk_operation=None
) -> Outcomes:
    """Set ``field`` (one of ``ACCOUNT_FIELDS``) to ``value`` (a row or a
    plain value); accounts already at it are skipped."""
    action = ACCOUNT_FIELDS[field]
    stored = getattr(value, "pk", value)
    column = f"{field}_id" if field in ("file_type", "created_by") else field
    accounts = Account.objects.filter(pk__any=list(account_ids))
    same = Q(**{column: stored}) if stored is not None else Q(**{f"{column}__isnull": True})
    outcomes = Outcomes()
    outcomes.skip(accounts.filter(same).values_list("pk", flat=True), "Already as requested")
    audited_update(
        actor=actor,
        action=action,
        queryset=accounts.exclude(same),
        field=field,
        new_value=stored,
        bulk_operation=bulk_operation,
    )
    return outcomes


@transaction.atomic
def set_access(
    *, actor, account_ids: list[int], company_id: int, grant: bool, bulk_operation=None
) -> Outcomes:
    """Grant ``company_id`` access to the accounts (``grant``) or remove its
    grant. Only the owner grants: an account the actor's company does not
    own (one granted to it) fails; the owner itself needs no grant."""
    outcomes = Outcomes()
    rows = list(Account.objects.filter(pk__any=list(account_ids)).values_list("pk", "company_id"))
    if not getattr(actor, "is_superuser", False):
        outcomes.fail(
            [pk for pk, owner in rows if owner != actor.company_id],
            "Only the company that owns the account may grant access to it",
        )
        rows = [(pk, owner) for pk, owner in rows if owner == actor.company_id]
    outcomes.skip([pk for pk, owner in rows if owner == company_id], "The company owns the account")
    ids = [pk for pk, owner in rows if owner != company_id]
    has = set(
        AccountAccess.objects.filter(account_id__any=ids, company_id=company_id).values_list(
            "account_id", flat=True
        )
    )
    key = access_key(company_id)
    if grant:
        changing = [pk for pk in ids if pk not in has]
        outcomes.skip(has, "The company has access already")
        AccountAccess.objects.bulk_create(
            [AccountAccess(account_id=pk, company_id=company_id) for pk in changing],
            batch_size=5000,
        )
    else:
        changing = [pk for pk in ids if pk in has]
        outcomes.skip(set(ids) - has, "The company has no access to remove")
        AccountAccess.objects.filter(account_id__any=changing, company_id=company_id).delete()
    record_audit_events(
        actor=actor,
        action="account.access_granted" if grant else "account.access_removed",
        model=Account,
        changes_by_id=[(pk, {key: (not grant, grant)}) for pk in changing],
        bulk_operation=bulk_operation,
    )
    return outcomes


@transaction.atomic
def set_role(
    *, actor, account_ids: list[int], role: str, user_id: int | None, bulk_operation=None
) -> Outcomes:
    """Give the accounts' secondary ``role`` to ``user_id`` (None clears it)."""
    outcomes = Outcomes()
    ids = list(account_ids)
    now = dict(
        AccountRoleAssignment.objects.filter(account_id__any=ids, role=role).values_list(
            "account_id", "user_id"
        )
    )
    unchanged = [pk for pk in ids if now.get(pk) == user_id]
    outcomes.skip(unchanged, "Role already as requested")
    changing = [pk for pk in ids if now.get(pk) != user_id]
    if user_id is None:
        AccountRoleAssignment.objects.filter(account_id__any=changing, role=role).delete()
    else:
        AccountRoleAssignment.objects.filter(account_id__any=changing, role=role).update(
            user_id=user_id
        )
        AccountRoleAssignment.objects.bulk_create(
            [
                AccountRoleAssignment(account_id=pk, role=role, user_id=user_id)
                for pk in changing
                if pk not in now
            ],
            batch_size=5000,
        )
    record_audit_events(
        actor=actor,
        action="account.role_assigned" if user_id else "account.role_cleared",
        model=Account,
        changes_by_id=[(pk, {role_key(role): (now.get(pk), user_id)}) for pk in changing],
        bulk_operation=bulk_operation,
    )
    return outcomes


@transaction.atomic
def set_custom_value(
    *, actor, account_ids: list[int], field: CustomField, value: str, bulk_operation=None
) -> Outcomes:
    """Set custom ``field`` to ``value``, already cleaned by its type
    (``accounts.details.clean_custom_value``); "" clears it."""
    outcomes = Outcomes()
    ids = list(account_ids)
    now = dict(
        CustomFieldValue.objects.filter(account_id__any=ids, field=field).values_list(
            "account_id", "value"
        )
    )
    outcomes.skip([pk for pk in ids if now.get(pk, "") == value], "Already as requested")
    changing = [pk for pk in ids if now.get(pk, "") != value]
    # Recorded first, in one INSERT ... SELECT that reads each value before.
    held = CustomFieldValue.objects.filter(account_id=OuterRef("pk"), field=field)
    record_field_change(
        actor=actor,
        action="account.custom_field_set" if value else "account.custom_field_cleared",
        queryset=Account.objects.filter(pk__any=changing).annotate(
            custom_before=Coalesce(
                Subquery(held.values("value")[:1]), Value(""), output_field=TextField()
            )
        ),
        field=custom_key(field),
        before="custom_before",
        new_value=value,
        bulk_operation=bulk_operation,
    )
    stored = CustomFieldValue.objects.filter(account_id__any=changing, field=field)
    if value == "":
        stored.delete()
    else:
        stored.update(value=value)
        CustomFieldValue.objects.bulk_create(
            [
                CustomFieldValue(account_id=pk, field=field, value=value)
                for pk in changing
                if pk not in now
            ],
            batch_size=5000,
        )
    return outcomes


@transaction.atomic
def add_notes(
    *, actor, account_ids: list[int], note_type, body: str, bulk_operation=None
) -> Outcomes:
    """The same note on every account (each shows in its Diary)."""
    at = timezone.now()
    notes = Note.objects.bulk_create(
        [
            Note(account_id=pk, note_type=note_type, body=body, author=actor, created_at=at)
            for pk in account_ids
        ],
        batch_size=5000,
    )
    record_same_change(
        actor=actor,
        action="note.added",
        queryset=Note.objects.filter(pk__any=[note.pk for note in notes]),
        changes={"body": (None, body)},
        bulk_operation=bulk_operation,
        occurred_at=at,
    )
    return Outcomes()


@transaction.atomic
def add_alerts(
    *, actor, account_ids: list[int], message: str, expires_at=None, bulk_operation=None
) -> Outcomes:
    """The same alert at the top of every account's page, until it expires."""
    at = timezone.now()
    alerts = Alert.objects.bulk_create(
        [
            Alert(
                account_id=pk,
                message=message,
                expires_at=expires_at,
                created_by=actor,
                created_at=at,
            )  # fmt: skip
            for pk in account_ids
        ],
        batch_size=5000,
    )
    record_same_change(
        actor=actor,
        action="alert.added",
        queryset=Alert.objects.filter(pk__any=[alert.pk for alert in alerts]),
        changes={"message": (None, message), "is_active": (None, True)},
        bulk_operation=bulk_operation,
        occurred_at=at,
    )
    return Outcomes()


@transaction.atomic
def set_alerts_active(*, actor, alert_ids: list[int], active: bool, bulk_operation=None) -> int:
    """Show again or take down alerts (Undo of a Mass Add Alert, and its
    redo); returns how many changed."""
    return audited_update(
        actor=actor,
        action="alert.shown" if active else "alert.taken_down",
        queryset=Alert.objects.filter(pk__any=list(alert_ids)).exclude(is_active=active),
        field="is_active",
        new_value=active,
        bulk_operation=bulk_operation,
    )


def current_values(account_ids: list[int], names: set[str]) -> dict[int, dict[str, Any]]:
    """What each account holds now of the audited ``names`` (fields, roles,
    custom fields, access), as the audit trail writes them: what Undo
    compares with the undone operation's after-values."""
    values: dict[int, dict[str, Any]] = defaultdict(dict)
    fields = [n for n in names if ":" not in n and n != "flags"]
    if fields:
        columns = {n: (f"{n}_id" if _is_relation(n) else n) for n in fields}
        for row in Account.objects.filter(pk__any=list(account_ids)).values(
            "pk", *columns.values()
        ):
            for name, column in columns.items():
                values[row["pk"]][name] = jsonable(row[column])
    roles = {n.split(":", 1)[1] for n in names if n.startswith("role:")}
    if roles:
        for pk in account_ids:
            for role in roles:
                values[pk][role_key(role)] = None
        for account_id, role, user_id in AccountRoleAssignment.objects.filter(
            account_id__any=list(account_ids), role__in=roles
        ).values_list("account_id", "role", "user_id"):
            values[account_id][role_key(role)] = user_id
    keys = {n.split(":", 1)[1] for n in names if n.startswith("custom:")}
    if keys:
        for pk in account_ids:
            for key in keys:
                values[pk][f"custom:{key}"] = ""
        for account_id, key, value in CustomFieldValue.objects.filter(
            account_id__any=list(account_ids), field__key__in=keys
        ).values_list("account_id", "field__key", "value"):
            values[account_id][f"custom:{key}"] = value
    companies = {int(n.split(":", 1)[1]) for n in names if n.startswith("access:")}
    if companies:
        for pk in account_ids:
            for company_id in companies:
                values[pk][access_key(company_id)] = False
        for account_id, company_id in AccountAccess.objects.filter(
            account_id__any=list(account_ids), company_id__in=companies
        ).values_list("account_id", "company_id"):
            values[account_id][access_key(company_id)] = True
    return values


def _is_relation(name: str) -> bool:
    field = Account._meta.get_field(name)
    return field.is_relation


def jsonable(value: Any) -> Any:
    """A value as the audit trail stores it (dates and times in ISO form)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def same_value(a: Any, b: Any) -> bool:
    """Whether two audited values are the same: times compared as instants
    (the database and Python write them differently: "T" or " ", "+00:00"
    or none)."""
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        first, second = parse_datetime(a), parse_datetime(b)
        if first is not None and second is not None:
            if timezone.is_naive(first):
                first = timezone.make_aware(first, dt.UTC)
            if timezone.is_naive(second):
                second = timezone.make_aware(second, dt.UTC)
            return first == second
    return False
