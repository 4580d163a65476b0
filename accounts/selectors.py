"""Reads of the accounts app. Every account query the UI or an action makes
starts from ``accounts_visible_to``: the one place tenant scoping lives."""

from __future__ import annotations

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.columns import DEFAULT_COLUMNS, GRID_COLUMNS
from accounts.masking import mask_account_number
from accounts.models import (
    CONFIGURATION_UNIQUE,
    Account,
    AccountAccess,
    SavedList,
    User,
)
from accounts.roles import COLLECTOR
from bulkops.models import AuditEvent
from bulkops.selectors import with_readable_changes
from common.preferences import table_columns


def accounts_visible_to(user, *, one_row: bool = False) -> QuerySet[Account]:
    """The accounts ``user`` may see: those their company owns or has been
    granted. A superuser (the platform operator) sees all; anyone else
    without a company sees none.

    Most companies are granted nothing beyond what they own; for them the
    scope is one indexed column, and counts over a million rows stay a
    single-table scan. Whether grants exist is asked once per request;
    with ``one_row`` (the caller filters to one account) it is not asked:
    the row is checked for a grant of its own in the same query."""
    if not user.is_authenticated or not user.is_active:
        return Account.objects.none()
    if user.is_superuser:
        return Account.objects.all()
    company_id = user.company_id
    if company_id is None:
        return Account.objects.none()
    has_grants = getattr(user, "_company_has_grants", None)
    if has_grants is None and one_row:
        granted_this = AccountAccess.objects.filter(
            company_id=company_id, account_id=OuterRef("pk")
        )
        return Account.objects.filter(Q(company_id=company_id) | Exists(granted_this))
    if has_grants is None:
        has_grants = AccountAccess.objects.filter(company_id=company_id).exists()
        user._company_has_grants = has_grants
    if not has_grants:
        return Account.objects.filter(company_id=company_id)
    granted = AccountAccess.objects.filter(company_id=company_id).values("account_id")
    return Account.objects.filter(Q(company_id=company_id) | Q(pk__in=granted))


def account_owners_reachable_by(user) -> list[int] | None:
    """The companies owning some account ``user`` may see: their own, and
    the owners of the accounts granted to their company. None means every
    company (the platform operator)."""
    if user.is_superuser:
        return None
    if user.company_id is None:
        return []
    granted_by = AccountAccess.objects.filter(company_id=user.company_id).values_list(
        "account__company_id", flat=True
    )
    return sorted({user.company_id, *granted_by.distinct()})


def configuration_visible_to(user, model) -> QuerySet:
    """The rows of a configuration model (statuses, flags, custom fields,
    file types, note types, clients, portfolios, creditors, agencies) that
    ``user`` may see and pick: the platform's defaults plus their company's
    own. The platform operator (superuser) sees every company's; a user of
    no company, the defaults only. Every dialog, filter and export column of
    configuration reads through here (inactive rows included: callers that
    offer a choice add ``is_active=True``)."""
    if model not in CONFIGURATION_UNIQUE:
        raise ValueError(f"{model.__name__} is not a configuration model.")
    if user is None or not user.is_authenticated:
        return model.objects.none()
    if user.is_superuser:
        return model.objects.all()
    return model.objects.filter(_configuration_scope(user.company_id))


def configuration_usable_by(user, row) -> bool:
    """Whether ``user`` may pick ``row`` (of a configuration model): the same
    rule as ``configuration_visible_to``, for a row already fetched."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_superuser or row.company_id is None or row.company_id == user.company_id


def configuration_clashes(model, *, company_id: int | None, values: dict, exclude_pk=None):
    """For each group of fields that must differ among the rows a company is
    offered together (``CONFIGURATION_UNIQUE``), the first row whose values
    equal ``values`` and that would be offered alongside a row of
    ``company_id`` (None: a default, offered alongside every company's
    rows). Yields (fields, clashing row)."""
    scope = Q() if company_id is None else _configuration_scope(company_id)
    for fields in CONFIGURATION_UNIQUE[model]:
        if any(values.get(name) in (None, "") for name in fields):
            continue
        same = model.objects.filter(scope, **{name: values[name] for name in fields})
        if exclude_pk is not None:
            same = same.exclude(pk=exclude_pk)
        # A default first: it is what the message names.
        first = (F("company_id").asc(nulls_first=True), "pk")
        clash = same.select_related("company").order_by(*first).first()
        if clash is not None:
            yield fields, clash


def _configuration_scope(company_id: int | None) -> Q:
    if company_id is None:
        return Q(company__isnull=True)
    return Q(company__isnull=True) | Q(company_id=company_id)


def describe_accounts(account_ids: list[int]) -> dict[int, tuple[str, str]]:
    """{id: (file number, account page URL)} for a page of an operation's
    outcomes (accounts deleted since are missing)."""
    from django.urls import reverse

    prefix = reverse("accounts:grid")
    return {
        pk: (file_number, f"{prefix}{pk}/")
        for pk, file_number in Account.objects.filter(pk__in=account_ids).values_list(
            "pk", "file_number"
        )
    }


def account_by_file_number(text: str) -> int | None:
    """The id of the account with this file number (as typed: any case)."""
    return (
        Account.objects.filter(file_number=text.strip().upper())
        .values_list("pk", flat=True)
        .first()
    )


def accounts_by_file_numbers(user, values: list[str]) -> dict[str, int]:
    """{value: account id} for the values (file numbers as typed: any case,
    spaces around) naming accounts ``user`` may see; one query per 5,000."""
    wanted: dict[str, list[str]] = {}
    for value in values:
        wanted.setdefault(value.strip().upper(), []).append(value)
    found: dict[str, int] = {}
    numbers = list(wanted)
    visible = accounts_visible_to(user)
    for start in range(0, len(numbers), 5_000):
        batch = numbers[start : start + 5_000]
        for number, pk in visible.filter(file_number__any=batch).values_list("file_number", "pk"):
            for value in wanted[number]:
                found[value] = pk
    return found


def saved_lists_visible_to(user) -> QuerySet[SavedList]:
    """Lists the user owns or that are shared with them or one of their groups,
    within the user's company."""
    if not user.is_authenticated:
        return SavedList.objects.none()
    shared = Q(owner=user) | Q(shared_with_users=user) | Q(shared_with_groups__in=user.groups.all())
    queryset = SavedList.objects.filter(shared)
    if not user.is_superuser:
        queryset = queryset.filter(company_id=user.company_id)
    return queryset.distinct().select_related("owner").order_by("name")


GRID_TABLE = "accounts"  # the grid's key among table preferences (its selectable's)


def grid_columns_for(user) -> list[str]:
    """The grid columns ``user`` chose (those the catalogue still has), else
    the catalogue's defaults."""
    return table_columns(user, GRID_TABLE, known=GRID_COLUMNS, default=DEFAULT_COLUMNS)


def collectors_of(user) -> QuerySet[User]:
    """The active collectors of the user's company (every company's, for the
    platform operator): whom accounts can be assigned to."""
    queryset = User.objects.filter(is_active=True, groups__name=COLLECTOR)
    if not user.is_superuser:
        queryset = queryset.filter(company_id=user.company_id)
    return queryset.order_by("last_name", "first_name")


def company_users(user, *, active_only: bool = True) -> QuerySet[User]:
    """Users of the user's company (all companies for the platform operator):
    the active ones for sharing and assignment, all of them for filtering
    history (someone who left still appears in the audit)."""
    queryset = User.objects.filter(is_active=True) if active_only else User.objects.all()
    if not user.is_superuser:
        queryset = queryset.filter(company_id=user.company_id)
    return queryset.order_by("last_name", "first_name", "username")


def account_for_page(user, pk) -> Account | None:
    """The account for its page. Only the relations every tab shows are
    joined: PostgreSQL takes longer to plan a nine-table join (3 ms) than
    to fetch the small lookup rows (client, portfolio, creditor) by key."""
    scope = accounts_visible_to(user, one_row=True)
    # The number of companies it is shared with (the Assignment widget).
    shared = (
        AccountAccess.objects.filter(account_id=OuterRef("pk"))
        .order_by()
        .values("account_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        scope.select_related("debtor", "status", "assigned_to", "office")
        .prefetch_related("flags")
        .annotate(shared_count=Coalesce(Subquery(shared), 0))
        .filter(pk=pk)
        .first()
    )


def account_page_context(user, account: Account) -> dict:
    """What the account page's header shows of the accounts app's own data,
    masked unless the user may see it all (the widgets and tabs add the
    rest: ``accounts.widgets``, ``accounts.sections``)."""
    unmasked = user.has_perm("accounts.view_unmasked_data")
    return {
        "account": account,
        "account_number": account.account_number
        if unmasked
        else mask_account_number(account.account_number),
        "debtor": account.debtor,
        "alerts": active_alerts_of(account),
    }


def contact_points_of(account: Account) -> tuple[list, list]:
    """The debtor's email addresses and phone numbers, primary first, read
    once for everything one page of this account shows (kept on ``account``)."""
    cached = getattr(account, "_contact_points", None)
    if cached is None:
        from accounts.models import DebtorEmail, DebtorPhone

        cached = tuple(
            list(
                model.objects.filter(debtor_id=account.debtor_id)
                .select_related("validity_changed_by")
                .order_by("-is_primary", "pk")
            )
            for model in (DebtorEmail, DebtorPhone)
        )
        account._contact_points = cached
    return cached


def active_alerts_of(account: Account) -> list:
    """The account's alerts that have not expired (kept on ``account``)."""
    cached = getattr(account, "_active_alerts", None)
    if cached is None:
        cached = list(
            account.alerts.filter(is_active=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
            )
        )
        account._active_alerts = cached
    return cached


HISTORY = 20  # the latest changes on Account Details; the Diary has them all


def account_history(user, account: Account):
    """The account's audit trail, newest first, for users who may read audit."""
    if not user.has_perm("bulkops.view_auditevent"):
        return None
    return with_readable_changes(
        AuditEvent.objects.filter(object_type="accounts.account", object_id=account.pk)
        .select_related("actor")
        .order_by("-occurred_at", "-pk")[:HISTORY]
    )
