"""Undo of Assign To, Change Status To, Update Stage and Add/Remove Flags: a bulk operation of
its own that puts back, from the audit trail the undone operation wrote,
each field it changed, **only where the field still holds the operation's
value**. Where someone changed it since, the account is skipped with "changed
since by <user> at <time>". The undo writes its own audit (before and after),
so undoing the undo redoes.

Set-based: a chunk reads the undone operation's events of its accounts (one
query), their values now (one), and puts each group of equal values back in
one audited ``UPDATE`` (``audited_update``)."""

from __future__ import annotations

import json
from collections import defaultdict

from django.db.models import Q
from django.utils import timezone

from accounts import services
from accounts.models import Account, AccountFlag, Flag, User
from bulkops.models import AuditEvent
from bulkops.registry import BulkAction, Outcomes, register
from bulkops.services import audited_update

# The actions an undo puts back, with the fields their events name.
UNDONE_ACTIONS = {
    "assign": ("account.assigned",),
    "change_status": ("account.status_changed", "account.default_date_set"),
    "stage": ("account.stage_updated",),
}


def _original(operation):
    """The operation whose changes this one puts back (an undo's undo: the
    undo, whose own events say what to put back)."""
    return operation.undoes


def _actions_of(operation) -> tuple[str, ...]:
    kinds = [operation.kind]
    while operation.kind.endswith("_undo") and operation.undoes_id:
        operation = operation.undoes
        kinds.append(operation.kind)
    base = kinds[-1]
    return UNDONE_ACTIONS[base] + tuple(f"{a}_undone" for a in UNDONE_ACTIONS[base])


def changed_since(account_ids, fields, after, exclude_operation_ids) -> dict:
    """{(account, field): (who, when)} of the latest change of each field
    made after ``after`` by anything but these operations."""
    latest: dict[tuple[int, str], tuple] = {}
    events = (
        AuditEvent.objects.filter(
            object_type="accounts.account", object_id__any=list(account_ids), occurred_at__gt=after
        )
        .exclude(bulk_operation_id__in=exclude_operation_ids)
        .order_by("occurred_at", "pk")
        .values_list("object_id", "changes", "actor_id", "occurred_at")
    )
    for object_id, changes, actor_id, at in events:
        for name in changes:
            if name in fields:
                latest[(object_id, name)] = (actor_id, at)
    return latest


def skip_changed_since(outcomes: Outcomes, blocked: dict[int, tuple]) -> None:
    """Skip each account someone changed since, saying who and when
    (``blocked``: {account: (actor id, time)}, either None when unknown)."""
    actor_ids = [actor_id for actor_id, _ in blocked.values() if actor_id]
    names = {u.pk: str(u) for u in User.objects.filter(pk__in=actor_ids)}
    for account_id, (actor_id, at) in blocked.items():
        who = names.get(actor_id, "someone")
        when = timezone.localtime(at).strftime("%Y-%m-%d %H:%M") if at else "an unknown time"
        outcomes.skip([account_id], f"changed since by {who} at {when}")


def undone_changes(original, ids, actions=None) -> tuple[dict[int, dict[str, tuple]], object]:
    """What ``original`` changed on these accounts, from its audit events
    (of ``actions`` only, when given): ({account: {field: (before, after)}},
    the time of its first event). A field it changed twice goes from its
    first before-value to its last after-value."""
    events = AuditEvent.objects.filter(
        bulk_operation=original, object_type="accounts.account", object_id__any=list(ids)
    )
    if actions is not None:
        events = events.filter(action__any=list(actions))
    changed: dict[int, dict[str, tuple]] = defaultdict(dict)
    started = None
    for object_id, changes, at in events.order_by("pk").values_list(
        "object_id", "changes", "occurred_at"
    ):
        started = min(started or at, at)
        for name, (before, after) in changes.items():
            first = changed[object_id].get(name, (before, after))[0]
            changed[object_id][name] = (first, after)
    return changed, started


def skip_stale(outcomes: Outcomes, stale: dict[int, str], fields, started, operations) -> None:
    """Skip each account of ``stale`` ({account: the first of its fields
    changed since}), saying who changed that field after ``started`` and
    when, the ``operations``' own changes aside. The audit trail is read
    for those accounts only: usually none."""
    if not stale:
        return
    since = changed_since(list(stale), set(fields), started or timezone.now(), operations)
    skip_changed_since(
        outcomes, {pk: since.get((pk, name), (None, None)) for pk, name in stale.items()}
    )


class RestoreFields(BulkAction):
    """The inverse of an accounts action that changed fields one value each."""

    target = "accounts"
    group = "Accounts"
    in_toolbar = False
    chunk_size = 5000
    confirm_label = "Undo"

    def describe(self, parameters):
        return f"Undo of #{parameters.get('undoes')}"

    def apply(self, items, operation):
        outcomes = Outcomes()
        original = _original(operation)
        ids = list(items.target_ids)
        changed, started = undone_changes(original, ids, _actions_of(original))
        fields = sorted({name for values in changed.values() for name in values})
        outcomes.skip(set(ids) - set(changed), "Nothing of this operation to undo")
        if not changed:
            return outcomes
        now = {
            row["pk"]: row
            for row in Account.objects.filter(pk__any=list(changed)).values(
                "pk",
                *[f"{name}_id" if name in ("status", "assigned_to") else name for name in fields],
            )
        }
        groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        stale: dict[int, str] = {}  # account: the first field changed since
        for account_id, values in changed.items():
            row = now.get(account_id)
            if row is None:
                continue
            moved = [
                name for name, (_before, after) in values.items() if _current(row, name) != after
            ]
            if moved:
                stale[account_id] = moved[0]
                continue
            for name, (before, after) in values.items():
                groups[(name, json.dumps(before), json.dumps(after))].append(account_id)
        skip_stale(outcomes, stale, fields, started, [original.pk, operation.pk])
        base_action = {"assigned_to": "account.assigned", "status": "account.status_changed",
                       "default_date": "account.default_date_set", "stage": "account.stage_updated"}  # fmt: skip
        for (name, before, after), account_ids in groups.items():
            before_value, after_value = json.loads(before), json.loads(after)
            column = f"{name}_id" if name in ("status", "assigned_to") else name
            still = (
                Q(**{column: after_value})
                if after_value is not None
                else Q(**{f"{column}__isnull": True})
            )
            audited_update(
                actor=operation.created_by,
                action=f"{base_action.get(name, 'account.' + name)}_undone",
                queryset=Account.objects.filter(still, pk__any=account_ids),
                field=name,
                new_value=before_value,
                bulk_operation=operation,
            )
        return outcomes


def _current(row: dict, name: str):
    value = row.get(f"{name}_id", row.get(name))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@register
class UndoAssign(RestoreFields):
    key = "assign_undo"
    label = "Undo Assign To"
    permission = "accounts.assign_accounts"
    inverse = "assign_undo"


@register
class UndoChangeStatus(RestoreFields):
    key = "change_status_undo"
    label = "Undo Change Status To"
    permission = "accounts.change_account_status"
    inverse = "change_status_undo"


@register
class UndoUpdateStage(RestoreFields):
    key = "stage_undo"
    label = "Undo Update Stage"
    permission = "accounts.update_account_stage"
    inverse = "stage_undo"


@register
class UndoFlags(BulkAction):
    """The inverse of Add/Remove Flags: each account's flags as they were,
    where they are still as the operation left them (else skipped: changed
    since by whom and when). The flags' names are what the audit kept; an
    account's change is put back through the same service, grouped by the
    flags to add and remove."""

    key = "flags_undo"
    label = "Undo Add/Remove Flags"
    target = "accounts"
    group = "Accounts"
    in_toolbar = False
    permission = "accounts.manage_account_flags"
    inverse = "flags_undo"
    chunk_size = 5000
    confirm_label = "Undo"

    def describe(self, parameters):
        return f"Undo of #{parameters.get('undoes')}"

    def apply(self, items, operation):
        outcomes = Outcomes()
        original = operation.undoes
        ids = list(items.target_ids)
        events, started = undone_changes(original, ids, ["account.flags_changed"])
        changed = {
            pk: (set(fields["flags"][0]), set(fields["flags"][1])) for pk, fields in events.items()
        }
        outcomes.skip(set(ids) - set(changed), "Nothing of this operation to undo")
        if not changed:
            return outcomes
        offered = Q(company__isnull=True) | Q(company_id=original.company_id)
        by_name = {f.name: f for f in Flag.objects.filter(offered)}
        now: dict[int, set[str]] = defaultdict(set)
        for account_id, name in AccountFlag.objects.filter(
            account_id__any=list(changed)
        ).values_list("account_id", "flag__name"):
            now[account_id].add(name)
        groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[int]] = defaultdict(list)
        stale: dict[int, str] = {}
        for account_id, (before, after) in changed.items():
            if now[account_id] != after:
                stale[account_id] = "flags"
                continue
            groups[(tuple(sorted(before - after)), tuple(sorted(after - before)))].append(
                account_id
            )
        skip_stale(outcomes, stale, {"flags"}, started, [original.pk, operation.pk])
        for (put_back, take_off), account_ids in groups.items():
            missing = [n for n in (*put_back, *take_off) if n not in by_name]
            if missing:
                outcomes.fail(account_ids, f"The flag {missing[0]} no longer exists")
                continue
            outcomes.merge(
                services.change_flags(
                    actor=operation.created_by,
                    account_ids=account_ids,
                    add=[by_name[n] for n in put_back],
                    remove_ids=[by_name[n].pk for n in take_off],
                    bulk_operation=operation,
                )
            )
        return outcomes
