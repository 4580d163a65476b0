"""Undo of Mass Edit: every field, role, custom field, company access and
flag the Mass Edit changed is put back from its audit trail, **only on
accounts where each still holds the Mass Edit's value**; an account someone
changed since is skipped with "changed since by <user> at <time>". The
alerts it added are taken down (and shown again by a redo). Its notes stay:
a note is the record of what was done, and the Undo leaves its own.

The undo writes its changes through the same services, whose audit names
the same fields, so undoing the undo redoes."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from django.db.models import Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import mass_edit, selectors, services
from accounts.actions.undo import skip_stale, undone_changes
from accounts.models import Account, Alert, CustomField, Flag
from bulkops.models import AuditEvent
from bulkops.registry import BulkAction, Outcomes, register
from bulkops.services import audited_update


@register
class UndoMassEdit(BulkAction):
    key = "mass_edit_undo"
    label = "Undo Mass Edit"
    target = "accounts"
    group = "Accounts"
    in_toolbar = False
    permission = "accounts.mass_edit_accounts"
    inverse = "mass_edit_undo"
    chunk_size = 5000
    confirm_label = "Undo"

    def describe(self, parameters):
        return f"Undo of #{parameters.get('undoes')}"

    def apply(self, items, operation):
        outcomes = Outcomes()
        original = operation.undoes
        actor = operation.created_by
        ids = list(items.target_ids)
        changed, started = undone_changes(original, ids)
        alerts = _alerts_of(original, ids)
        untouched = set(ids) - set(changed) - {account for account, _, _ in alerts}
        outcomes.skip(untouched, "Nothing of this operation to undo (its notes are kept)")
        names = {name for values in changed.values() for name in values}
        now = mass_edit.current_values(list(changed), names)
        flags_now = _flags_of(list(changed)) if "flags" in names else {}
        stale: dict[int, str] = {}  # account: the first field changed since
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for account_id, values in changed.items():
            moved = [
                name
                for name, (_before, after) in values.items()
                if not _holds(name, after, now[account_id], flags_now.get(account_id, set()))
            ]
            if moved:
                stale[account_id] = moved[0]
                continue
            for name, (before, after) in values.items():
                groups[(name, json.dumps([before, after]))].append(account_id)
        skip_stale(outcomes, stale, names, started, [original.pk, operation.pk])
        for (name, values), account_ids in sorted(groups.items()):
            before, after = json.loads(values)
            outcomes.merge(
                _restore(actor, operation, name, before, after, account_ids)
                if ":" in name or name == "flags"
                else _restore_field(actor, operation, name, before, account_ids)
            )
        by_state: dict[bool, list[int]] = defaultdict(list)
        for account_id, alert_id, active in alerts:
            if account_id not in stale:  # its alerts stay as they are
                by_state[active].append(alert_id)
        for active, alert_ids in by_state.items():
            mass_edit.set_alerts_active(
                actor=actor, alert_ids=alert_ids, active=active, bulk_operation=operation
            )
        return outcomes


def _alerts_of(original, ids) -> list[tuple[int, int, bool]]:
    """(account, alert, what to set is_active to) for each alert the undone
    operation added (or took down, or showed again) on these accounts."""
    events = dict(
        AuditEvent.objects.filter(
            bulk_operation=original, object_type="accounts.alert"
        ).values_list("object_id", "changes")
    )
    if not events:
        return []
    alert_ids = AuditEvent.objects.filter(
        bulk_operation=original, object_type="accounts.alert"
    ).values("object_id")
    return [
        (account_id, pk, bool(events[pk]["is_active"][0]))
        for pk, account_id in Alert.objects.filter(
            account_id__any=list(ids), pk__in=Subquery(alert_ids)
        ).values_list("pk", "account_id")
    ]


def _flags_of(account_ids) -> dict[int, set[str]]:
    names: dict[int, set[str]] = defaultdict(set)
    for account_id, name in (
        Account.flags.through.objects.filter(account_id__any=list(account_ids))
        .values_list("account_id", "flag__name")
    ):  # fmt: skip
        names[account_id].add(name)
    return names


def _holds(name, after, now: dict, flags: set[str]) -> bool:
    if name == "flags":
        return flags == set(after)
    return mass_edit.same_value(now.get(name), after)


def _restore_field(actor, operation, name, before, account_ids) -> Outcomes:
    value = before
    if name == "created_at" and isinstance(before, str):
        value = parse_datetime(before)
        if value is not None and timezone.is_naive(value):  # SQLite writes UTC without an offset
            value = timezone.make_aware(value, dt.UTC)
    audited_update(
        actor=actor,
        action=f"account.{name}_restored",
        queryset=Account.objects.filter(pk__any=list(account_ids)),
        field=name,
        new_value=value,
        bulk_operation=operation,
    )
    return Outcomes()


def _restore(actor, operation, name, before, after, account_ids) -> Outcomes:
    """A flag set, role, custom field or company access put back through
    its service."""
    kind, _, key = name.partition(":")
    common = {"actor": actor, "account_ids": account_ids, "bulk_operation": operation}
    if kind == "flags":
        offered = selectors.configuration_visible_to(actor, Flag)
        by_name = {f.name: f for f in offered}
        put_back, take_off = set(before) - set(after), set(after) - set(before)
        missing = sorted(n for n in put_back | take_off if n not in by_name)
        if missing:
            return Outcomes.all_failed(account_ids, f"The flag {missing[0]} no longer exists")
        return services.change_flags(
            add=[by_name[n] for n in sorted(put_back)],
            remove_ids=[by_name[n].pk for n in take_off],
            **common,
        )
    if kind == "role":
        return mass_edit.set_role(role=key, user_id=before, **common)
    if kind == "custom":
        field = selectors.configuration_visible_to(actor, CustomField).filter(key=key).first()
        if field is None:
            return Outcomes.all_failed(account_ids, f"The custom field {key} no longer exists")
        return mass_edit.set_custom_value(field=field, value=before or "", **common)
    if kind == "access":
        return mass_edit.set_access(company_id=int(key), grant=bool(before), **common)
    raise ValueError(f"Mass Edit does not change {name}.")
