"""Writes of the accounts app, each in a transaction with its audit record.

The changes bulk actions make are here, set-based over a list of account
ids, so that a bulk chunk and the account page obey the same rules (a
terminated account keeps its status, say). Each returns the ``Outcomes`` of
the accounts it was given: done unless skipped, with the reason."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import selectors
from accounts.columns import GRID_COLUMNS
from accounts.models import Account, AccountFlag, AccountStatus, Flag, SavedList
from bulkops.registry import Outcomes
from bulkops.services import (
    audited_update,
    record_audit_event,
    record_audit_events,
    record_field_change,
)
from common.models import TablePreference
from common.preferences import save_table_columns


@transaction.atomic
def assign_accounts(*, actor, account_ids: list[int], collector, bulk_operation=None) -> Outcomes:
    """Assign the accounts to ``collector`` (None: unassign). Accounts already
    theirs (or already unassigned) are skipped."""
    outcomes = Outcomes()
    accounts = Account.objects.filter(pk__any=list(account_ids))
    unchanged = (
        accounts.filter(assigned_to=collector)
        if collector
        else accounts.filter(assigned_to__isnull=True)
    )
    outcomes.skip(
        unchanged.values_list("pk", flat=True),
        f"Already assigned to {collector}" if collector else "Already unassigned",
    )
    audited_update(
        actor=actor,
        action="account.assigned",
        queryset=accounts.exclude(pk__in=unchanged.values("pk")),
        field="assigned_to",
        new_value=collector.pk if collector else None,
        bulk_operation=bulk_operation,
    )
    return outcomes


@transaction.atomic
def change_status(*, actor, account_ids: list[int], status, bulk_operation=None) -> Outcomes:
    """Give the accounts ``status``. Terminated accounts and those already in
    it are skipped; an account entering a default status gets today as its
    default date (once: a date already set stays). A company's own status
    goes only on that company's accounts: any other (one granted to the
    company, say) fails."""
    outcomes = Outcomes()
    # The database classifies the accounts: only those left alone come back to
    # Python; the audit and the change are statements over the rest, so a
    # chunk costs the same few statements whatever its size.
    terminated_statuses = list(
        AccountStatus.objects.filter(category=AccountStatus.Category.TERMINATED).values_list(
            "pk", flat=True
        )
    )
    chunk = Account.objects.filter(pk__any=list(account_ids))
    is_terminated = Q(status_id__in=terminated_statuses) | Q(terminated_on__isnull=False)
    left_alone = is_terminated | Q(status_id=status.pk)
    if status.company_id is not None:  # a default (the usual case) adds nothing
        left_alone |= ~Q(company_id=status.company_id)
    refused, terminated, already = [], [], []
    for pk, company_id, status_id, terminated_on in chunk.filter(left_alone).values_list(
        "pk", "company_id", "status_id", "terminated_on"
    ):
        if status.company_id is not None and company_id != status.company_id:
            refused.append(pk)
        elif terminated_on is not None or status_id in terminated_statuses:
            terminated.append(pk)
        else:
            already.append(pk)
    outcomes.fail(refused, f"{status.name} is another company's status")
    outcomes.skip(terminated, "Account is terminated")
    outcomes.skip(already, f"Already {status.name}")
    changing = chunk.exclude(left_alone)
    if status.category == AccountStatus.Category.DEFAULT:
        today = timezone.localdate()  # the day the accounts enter default
        entering_default = changing.filter(default_date__isnull=True)
        # Both changes are recorded first (each INSERT ... SELECT reads the
        # values before them), then made in one statement: one new row
        # version. These rows then have the new status, so ``changing``
        # below drops them.
        record_field_change(
            actor=actor,
            action="account.status_changed",
            queryset=entering_default,
            field="status",
            new_value=status.pk,
            bulk_operation=bulk_operation,
        )
        audited_update(
            actor=actor,
            action="account.default_date_set",
            queryset=entering_default,
            field="default_date",
            new_value=today,
            also={"status": status},
            bulk_operation=bulk_operation,
        )
    audited_update(
        actor=actor,
        action="account.status_changed",
        queryset=changing,
        field="status",
        new_value=status.pk,
        bulk_operation=bulk_operation,
    )
    return outcomes


@transaction.atomic
def update_stage(*, actor, account_ids: list[int], stage: str, bulk_operation=None) -> Outcomes:
    """Move the accounts to the collections ``stage``; those in it are skipped."""
    outcomes = Outcomes()
    accounts = Account.objects.filter(pk__any=list(account_ids))
    outcomes.skip(
        accounts.filter(stage=stage).values_list("pk", flat=True),
        f"Already {Account.Stage(stage).label}",
    )
    audited_update(
        actor=actor,
        action="account.stage_updated",
        queryset=accounts.exclude(stage=stage),
        field="stage",
        new_value=stage,
        bulk_operation=bulk_operation,
    )
    return outcomes


@transaction.atomic
def change_flags(
    *, actor, account_ids: list[int], add: list[Flag], remove_ids: list[int], bulk_operation=None
) -> Outcomes:
    """Add the flags ``add`` and remove those of ``remove_ids``, recording
    each account's flags before and after; accounts whose flags are already
    as asked are skipped. A company's own flag goes only on that company's
    accounts: any other account fails and keeps its flags."""
    outcomes = Outcomes()
    ids = list(account_ids)
    for company_id, own in _by_owner(add).items():
        refused = set(
            Account.objects.filter(pk__any=ids)
            .exclude(company_id=company_id)
            .values_list("pk", flat=True)
        )
        listed = ", ".join(sorted(f.name for f in own))
        outcomes.fail(refused, f"{listed}: another company's flag")
        ids = [pk for pk in ids if pk not in refused]
    names = dict(Flag.objects.values_list("pk", "name"))
    before: dict[int, set[int]] = defaultdict(set)
    for account_id, flag_id in AccountFlag.objects.filter(account_id__any=ids).values_list(
        "account_id", "flag_id"
    ):
        before[account_id].add(flag_id)
    AccountFlag.objects.filter(account_id__any=ids, flag_id__in=remove_ids).delete()
    AccountFlag.objects.bulk_create(
        [
            AccountFlag(account_id=account_id, flag=flag)
            for account_id in ids
            for flag in add
            if flag.pk not in before[account_id]
        ],
        batch_size=5000,
    )
    changes, unchanged = [], []
    for account_id in ids:
        old = before[account_id]
        new = (old - set(remove_ids)) | {f.pk for f in add}
        if old == new:
            unchanged.append(account_id)
            continue
        flags = (sorted(names[f] for f in old), sorted(names[f] for f in new))
        changes.append((account_id, {"flags": flags}))
    record_audit_events(
        actor=actor,
        action="account.flags_changed",
        model=Account,
        changes_by_id=changes,
        bulk_operation=bulk_operation,
    )
    outcomes.skip(unchanged, "Flags already as requested")
    return outcomes


def _by_owner(rows) -> dict[int, list]:
    """Company-own configuration rows by their company (defaults left out)."""
    owned = defaultdict(list)
    for row in rows:
        if row.company_id is not None:
            owned[row.company_id].append(row)
    return owned


def save_grid_columns(*, user, columns: list[str]) -> TablePreference:
    """Remember the user's grid columns (unknown keys are dropped)."""
    return save_table_columns(user, selectors.GRID_TABLE, columns, known=GRID_COLUMNS)


@transaction.atomic
def save_list(
    *,
    user,
    name: str,
    filter_query: str,
    default_sort: str = "",
    what_contacts: str = SavedList.WhatContacts.ALL,
    columns: Sequence[str] = (),
    shared_with_users: Iterable = (),
    shared_with_groups: Iterable = (),
    saved_list: SavedList | None = None,
) -> SavedList:
    """Create a saved list owned by ``user``, or update ``saved_list``, which
    only its owner may do. The name must be new among the owner's lists;
    What Contacts one of its choices, and not with an Assigned To filter;
    the columns known ones, kept in their order (the grid's); a list is
    shared only with users of the owner's company. Audited, with the name,
    filters and What Contacts before and after."""
    if saved_list is not None and saved_list.owner_id != user.pk:
        raise PermissionDenied("Only the owner can edit this list.")
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the list a name."})
    duplicate = SavedList.objects.filter(owner=user, name=name)
    if saved_list is not None:
        duplicate = duplicate.exclude(pk=saved_list.pk)
    if duplicate.exists():
        raise ValidationError({"name": "You already have a list with this name."})
    if what_contacts not in SavedList.WhatContacts.values:
        raise ValidationError(
            {"what_contacts": "Choose All Accounts, My Accounts or Unassigned Accounts."}
        )
    clash = SavedList.what_contacts_problem(what_contacts, filter_query)
    if clash:
        raise ValidationError({"what_contacts": clash})
    unknown = [c for c in columns if c not in GRID_COLUMNS]
    if unknown:
        raise ValidationError(
            {
                "columns": f"Not a field the list can show: {', '.join(unknown)}. "
                "Choose the fields from Available Fields to Show."
            }
        )
    before = None
    if saved_list is None:
        saved_list = SavedList(owner=user, company=user.company)
    else:
        before = {
            "name": saved_list.name,
            "filter_query": saved_list.filter_query,
            "what_contacts": saved_list.what_contacts,
        }
    saved_list.name = name
    saved_list.filter_query = filter_query
    saved_list.default_sort = default_sort
    saved_list.what_contacts = str(what_contacts)
    saved_list.columns = list(dict.fromkeys(columns))
    saved_list.updated_at = timezone.now()
    saved_list.save()
    colleagues = selectors.company_users(user).exclude(pk=user.pk)
    saved_list.shared_with_users.set(
        colleagues.filter(pk__in=[getattr(u, "pk", u) for u in shared_with_users])
    )
    saved_list.shared_with_groups.set(list(shared_with_groups))
    record_audit_event(
        actor=user,
        action="saved_list.updated" if before else "saved_list.created",
        obj=saved_list,
        changes={
            "name": (before and before["name"], saved_list.name),
            "filter_query": (before and before["filter_query"], saved_list.filter_query),
            "what_contacts": (before and before["what_contacts"], saved_list.what_contacts),
        },
    )
    return saved_list


@transaction.atomic
def delete_list(*, user, saved_list: SavedList) -> None:
    record_audit_event(
        actor=user,
        action="saved_list.deleted",
        obj=saved_list,
        changes={"name": (saved_list.name, None)},
    )
    saved_list.delete()
