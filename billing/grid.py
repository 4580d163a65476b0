"""The accounts grid's **As of Date** and **Balance as of** filters and its
**Balance as of** column (seed 001's Add Fees computes a balance "as of" a
day; the grid filters by it and shows it too), added to the one account
FilterSet and the grid's columns from billing.apps.

The balance as of a day is the sum of the account's ledger entries posted
by the end of that day, in the site's time zone, the same figure as Add
Fees' "% of Balance" (``billing.fees.balances_as_of``); it may differ from
the current balance. Without an As of Date it is the balance at the end of
today."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.db.models import DecimalField, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.columns import AccountColumn, Grid, money
from billing.fees import end_of
from billing.selectors import ledger_sum
from bulkops.exports.cells import MONEY
from common.filters import AmountFilter, BoundedDateField, DateFilter

BALANCE = DecimalField(max_digits=16, decimal_places=2)
AS_OF = "as_of"


class PastDateField(BoundedDateField):
    """A day not after today: a ledger has nothing to say of the future."""

    def validate(self, value):
        super().validate(value)
        if value is not None and value > timezone.localdate():
            raise forms.ValidationError("The As of Date cannot be in the future.", code="future")


class AsOfDateFilter(DateFilter):
    """The day the Balance as of range and column are computed at; it
    filters nothing by itself."""

    field_class = PastDateField

    def filter(self, qs, value):
        return qs


def balance_as_of(day: dt.date):
    """Each account's ledger balance at the end of ``day``, as an expression
    of the account query."""
    return Coalesce(
        Subquery(ledger_sum(before=end_of(day)), output_field=BALANCE),
        Value(Decimal("0.00")),
        output_field=BALANCE,
    )


class BalanceAsOfFilter(AmountFilter):
    """One end of the Balance as of range, at the As of Date of the same
    filters (today without one)."""

    def filter(self, qs, value):
        if value is None:
            return qs
        day = self.parent.form.cleaned_data.get(AS_OF) or timezone.localdate()
        alias = f"_{self.field_name}"
        return qs.alias(**{alias: balance_as_of(day)}).filter(
            **{f"{alias}__{self.lookup_expr}": value}
        )


def account_filters() -> dict:
    return {
        # The day Balance as of is computed at (its end); today when empty.
        AS_OF: AsOfDateFilter(label="As of Date"),
        "balance_as_of_min": BalanceAsOfFilter(lookup_expr="gte", label="Balance as of from"),
        "balance_as_of_max": BalanceAsOfFilter(lookup_expr="lte", label="Balance as of to"),
    }


BALANCE_AS_OF_RANGE = ("balance_as_of_min", "balance_as_of_max", "Balance as of")


# --- the grid's Balance as of column ---------------------------------------------------


def _balance_as_of_at_filters_date(filters: dict):
    return balance_as_of(filters.get(AS_OF) or timezone.localdate())


BALANCE_AS_OF_COLUMN = AccountColumn(
    "balance_as_of",
    "Balance as of",
    kind=MONEY,
    grid=Grid(
        cell=lambda table, value, record: money(value),
        always=True,
        css="money",
        header_css="money",
        annotate=_balance_as_of_at_filters_date,
    ),
)
