"""The accounts grid's filters: ONE FilterSet used by the grid, the saved-list
builder, and every Selection that resolves "all accounts matching".

Bad input never errors: a filter whose value is unknown, malformed, out of
its bounds (``common.filters``) or a reversed range is ignored,
and ``AccountFilter.problems`` says why so the page can tell the user.
"""

from __future__ import annotations

import datetime as dt
import re

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from accounts.models import (
    Account,
    AccountFlag,
    AccountStatus,
    Client,
    Creditor,
    Debtor,
    DebtorEmail,
    DebtorPhone,
    Flag,
    Office,
    Portfolio,
    SavedList,
    User,
)
from accounts.roles import COLLECTOR
from accounts.selectors import accounts_visible_to, configuration_visible_to
from accounts.states import STATE_CHOICES
from bulkops.filters import SelectionFileFilter
from common.filters import (
    AmountFilter,
    DateFilter,
    IdsChoiceFilter,
    IntegerFilter,
    canonical_filter_params,
)

UNASSIGNED = "unassigned"

NAME_SEARCH_PREFETCH = 20_000
# A century: "days since default" beyond it is a typing mistake.
MAX_DAYS_SINCE_DEFAULT = 36_500
_FILE_NUMBER = re.compile(r"^[Ff]\d+$")
_DIGITS = re.compile(r"\D")

# The filters that offer configuration rows, and their model.
CONFIGURATION_FILTERS = {
    "client": Client,
    "portfolio": Portfolio,
    "creditor": Creditor,
    "status": AccountStatus,
    "flags_any": Flag,
    "flags_none": Flag,
}


class RangeForm(forms.Form):
    """Rejects reversed ranges with a message naming the filter."""

    RANGES = [
        ("balance_min", "balance_max", "Current Balance"),
        ("last_worked_after", "last_worked_before", "Last Worked"),
        ("last_payment_after", "last_payment_before", "Last Payment Date"),
        ("days_since_default_min", "days_since_default_max", "Days Since Default"),
    ]

    def clean(self):
        cleaned = super().clean()
        for low, high, label in self.RANGES:
            a, b = cleaned.get(low), cleaned.get(high)
            if a is not None and b is not None and a > b:
                # A form-wide error: the range as a whole is ignored.
                self.add_error(None, f"{label}: the end of the range is before its start.")
                cleaned.pop(low, None)
                cleaned.pop(high, None)
        return cleaned


class AccountFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="filter_search",
        help_text="File number, account number, debtor name, email or phone",
    )
    client = django_filters.ModelChoiceFilter(queryset=Client.objects.all())
    portfolio = django_filters.ModelChoiceFilter(
        queryset=Portfolio.objects.select_related("client")
    )
    creditor = django_filters.ModelChoiceFilter(queryset=Creditor.objects.all())
    # distinct=False: status is a foreign key, rows cannot repeat (DISTINCT would
    # force a sort of every matching row).
    status = IdsChoiceFilter(queryset=AccountStatus.objects.all(), distinct=False)
    stage = django_filters.ChoiceFilter(choices=Account.Stage.choices)
    assigned_to = django_filters.ChoiceFilter(
        label="Assigned To", method="filter_assigned_to", choices=[]
    )
    flags_any = IdsChoiceFilter(
        label="Has any of these flags", queryset=Flag.objects.all(), method="filter_flags_any"
    )
    flags_none = IdsChoiceFilter(
        label="Has none of these flags", queryset=Flag.objects.all(), method="filter_flags_none"
    )
    state = django_filters.ChoiceFilter(field_name="debtor__state", choices=STATE_CHOICES)
    office = django_filters.ModelChoiceFilter(queryset=Office.objects.none())
    balance_min = AmountFilter(
        field_name="current_balance", lookup_expr="gte", label="Balance from"
    )
    balance_max = AmountFilter(field_name="current_balance", lookup_expr="lte", label="Balance to")
    last_worked_after = DateFilter(method="filter_last_worked_after", label="Last worked from")
    last_worked_before = DateFilter(method="filter_last_worked_before", label="Last worked to")
    last_payment_after = DateFilter(
        field_name="last_payment_date", lookup_expr="gte", label="Last payment from"
    )
    last_payment_before = DateFilter(
        field_name="last_payment_date", lookup_expr="lte", label="Last payment to"
    )
    days_since_default_min = IntegerFilter(
        method="filter_days_since_default_min",
        label="Days since default from",
        max_value=MAX_DAYS_SINCE_DEFAULT,
        unit="days",
    )
    days_since_default_max = IntegerFilter(
        method="filter_days_since_default_max",
        label="Days since default to",
        max_value=MAX_DAYS_SINCE_DEFAULT,
        unit="days",
    )
    declined_min = IntegerFilter(
        field_name="declined_count", lookup_expr="gte", label="Declined transactions at least"
    )
    # The accounts of an uploaded file of file numbers ("Select from file").
    file = SelectionFileFilter(selectable="accounts")

    class Meta:
        model = Account
        fields: list[str] = []
        form = RangeForm

    def __init__(self, data=None, queryset=None, *, user=None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.user = user
        company_id = getattr(user, "company_id", None)
        # The company's collectors, and whoever filters, collector or not: a
        # saved list's "My Accounts" is the Assigned To of the user opening it
        # (a supervisor with no accounts then sees an empty list).
        assignees = Q(groups__name=COLLECTOR)
        if getattr(user, "pk", None) is not None:
            assignees |= Q(pk=user.pk)
        collectors = User.objects.filter(assignees, is_active=True).distinct()
        offices = Office.objects.all()
        if user is not None and not user.is_superuser:
            collectors = collectors.filter(company_id=company_id)
            offices = offices.filter(company_id=company_id)
        self.collector_choices = [(UNASSIGNED, "Unassigned")] + [
            (str(u.pk), str(u)) for u in collectors.order_by("last_name", "first_name")
        ]
        self.filters["assigned_to"].extra["choices"] = self.collector_choices
        self.filters["office"].queryset = offices
        if user is not None:
            # The defaults and the user's company's own: an id of another
            # company's row is an unknown choice, ignored with a notice.
            for name, model in CONFIGURATION_FILTERS.items():
                queryset = configuration_visible_to(user, model)
                if model is Portfolio:
                    queryset = queryset.select_related("client")
                self.filters[name].queryset = queryset

    @classmethod
    def for_user(cls, user, data) -> AccountFilter:
        """The one way to filter accounts: ``data`` (a query string's dict)
        applied to exactly the accounts ``user`` may see."""
        return cls(data, queryset=accounts_visible_to(user), user=user)

    # --- filter methods ---------------------------------------------------------

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """One box, dispatched on the shape of what was typed so that each
        kind of search uses its own index."""
        term = value.strip()
        if not term:
            return queryset
        if _FILE_NUMBER.match(term):
            # File numbers are stored upper-case: a plain prefix match uses the index.
            return queryset.filter(file_number__startswith=term.upper())
        if "@" in term:
            emails = DebtorEmail.objects.filter(address__iexact=term).values("debtor_id")
            return queryset.filter(debtor_id__in=emails)
        digits = _DIGITS.sub("", term)
        if digits and len(digits) >= 4 and len(digits) >= len(term.replace(" ", "")) - 4:
            phone_numbers = {f"+{digits}", f"+1{digits}"} if len(digits) == 10 else {f"+{digits}"}
            phones = DebtorPhone.objects.filter(number__in=phone_numbers).values("debtor_id")
            return queryset.filter(Q(account_number=digits) | Q(debtor_id__in=phones))
        words = term.split()
        if len(words) == 1:
            debtors = Debtor.objects.filter(
                Q(last_name__istartswith=term) | Q(first_name__iexact=term)
            )
        else:
            # "First Last" or "Last, First"
            if "," in term:
                last, _, first = term.partition(",")
            else:
                first, last = words[0], " ".join(words[1:])
            debtors = Debtor.objects.filter(
                last_name__istartswith=last.strip(), first_name__istartswith=first.strip()
            )
        # Fetch the matching debtors first when there are not too many: the
        # accounts are then found through the debtor index instead of a join
        # over every account of the company.
        ids = list(debtors.values_list("pk", flat=True)[: NAME_SEARCH_PREFETCH + 1])
        if len(ids) <= NAME_SEARCH_PREFETCH:
            return queryset.filter(debtor_id__in=ids)
        return queryset.filter(debtor_id__in=debtors.values("pk"))

    def filter_assigned_to(self, queryset, name, value):
        if value == UNASSIGNED:
            return queryset.filter(assigned_to__isnull=True)
        return queryset.filter(assigned_to_id=int(value))

    def filter_flags_any(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            Exists(AccountFlag.objects.filter(account_id=OuterRef("pk"), flag__in=value))
        )

    def filter_flags_none(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            ~Exists(AccountFlag.objects.filter(account_id=OuterRef("pk"), flag__in=value))
        )

    def filter_last_worked_after(self, queryset, name, value: dt.date):
        return queryset.filter(last_worked_at__gte=_start_of_day(value))

    def filter_last_worked_before(self, queryset, name, value: dt.date):
        return queryset.filter(last_worked_at__lt=_start_of_day(value + dt.timedelta(days=1)))

    def filter_days_since_default_min(self, queryset, name, value):
        # At least N days since default: defaulted on or before today - N.
        return queryset.filter(default_date__lte=_today() - dt.timedelta(days=value))

    def filter_days_since_default_max(self, queryset, name, value):
        return queryset.filter(default_date__gte=_today() - dt.timedelta(days=value))

    # --- bad input: keep the valid filters, report the others -------------------

    @property
    def qs(self):
        if not hasattr(self, "_qs"):
            self.form.is_valid()  # populates cleaned_data with the valid fields only
            self._qs = self.filter_queryset(self.queryset.all())
        return self._qs

    def filter_queryset(self, queryset):
        for name, value in self.form.cleaned_data.items():
            queryset = self.filters[name].filter(queryset, value)
        return queryset

    @property
    def problems(self) -> list[str]:
        """One sentence per ignored filter."""
        self.form.is_valid()
        messages = []
        for name, errors in self.form.errors.items():
            for error in errors:
                if name in self.filters:
                    error = f"{self.filters[name].label}: {error}"
                messages.append(f"{error} This filter was ignored.")
        return messages


def _today() -> dt.date:
    return timezone.localdate()


def _start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def with_what_contacts(querydict, what_contacts: str, user) -> QueryDict:
    """The grid's filters with a saved list's What Contacts applied through
    its Assigned To filter: "My Accounts" are those of ``user`` (whoever
    opens the list), "Unassigned Accounts" those of nobody. An Assigned To
    already there is kept (``SavedList.what_contacts_problem`` refuses to
    save a list with both)."""
    query = querydict.copy()
    if query.get("assigned_to"):
        return query
    if what_contacts == SavedList.WhatContacts.MINE:
        query["assigned_to"] = str(user.pk)
    elif what_contacts == SavedList.WhatContacts.UNASSIGNED:
        query["assigned_to"] = UNASSIGNED
    return query


def filter_params(querydict) -> list[tuple[str, str]]:
    """The grid's filters of a query string, canonical (sorted, no empties)."""
    return canonical_filter_params(AccountFilter, querydict)


def register_filters(filters: dict[str, django_filters.Filter], *, ranges=()) -> None:
    """Add filters over another app's data (billing's Balance as of) to the
    one FilterSet, after the accounts app's own: the grid ("More filters"),
    saved lists and every Selection of "all matching" get them. ``ranges``:
    ``(low, high, label)`` pairs whose reversed range is ignored with a
    notice, as the accounts app's own ranges are."""
    for name, filter_ in filters.items():
        if name in AccountFilter.base_filters:
            raise ValueError(f"Two account filters share the name {name!r}.")
        if filter_.field_name is None:
            filter_.field_name = name
        AccountFilter.base_filters[name] = filter_
    RangeForm.RANGES = [*RangeForm.RANGES, *ranges]
