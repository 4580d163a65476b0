"""Filters with bounds, for every FilterSet that reads a request.

A number or a date typed into a URL reaches date arithmetic and the
database: a year 9999, a million days or a 5,000-digit number overflows
Python's dates or the database's integers. Each filter here refuses what is
outside its bounds with a message saying what is accepted, so a FilterSet
can ignore that one filter with a notice instead of failing the page.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import django_filters
import django_filters.fields
from django import forms

DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2999, 12, 31)
# Amounts are numeric(14, 2): twelve digits before the point.
AMOUNT_LIMIT = Decimal("999999999999.99")
INTEGER_MAX = 2_147_483_647  # a 32-bit integer column


class BoundedDateField(forms.DateField):
    default_error_messages = {
        "out_of_range": f"Enter a date between {DATE_MIN:%Y-%m-%d} and {DATE_MAX:%Y-%m-%d}.",
    }

    def validate(self, value):
        super().validate(value)
        if value is not None and not DATE_MIN <= value <= DATE_MAX:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range")


class BoundedIntegerField(forms.IntegerField):
    """A whole number within [min_value, max_value]; out of them, a message
    that says both bounds."""

    def __init__(self, *, min_value: int = 0, max_value: int = INTEGER_MAX, unit="", **kwargs):
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)
        unit = f" {unit}" if unit else ""
        message = f"Enter a whole number from {min_value:,} to {max_value:,}{unit}."
        for code in ("min_value", "max_value"):
            self.error_messages[code] = message

    def to_python(self, value):
        # int() of a string of thousands of digits raises ValueError
        # (Python's limit on digits), which IntegerField reports as invalid;
        # refusing long strings first also spares the conversion.
        if isinstance(value, str) and len(value.strip()) > 20:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class BoundedDecimalField(forms.DecimalField):
    def __init__(self, *, limit: Decimal = AMOUNT_LIMIT, **kwargs):
        super().__init__(min_value=-limit, max_value=limit, **kwargs)
        message = f"Enter an amount from {-limit:,} to {limit:,}."
        for code in ("min_value", "max_value"):
            self.error_messages[code] = message


class IdsChoiceField(django_filters.fields.ModelMultipleChoiceField):
    """Several picks by id; an id no table can hold (thousands of digits, or
    past a 64-bit integer) is refused as a choice that does not exist,
    before the database sees it (SQLite cannot even bind it)."""

    def _check_values(self, value):
        for pk in value if isinstance(value, list | tuple) else ():
            text = str(pk).strip()
            if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) < 2**63):
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": text[:20]},
                )
        return super()._check_values(value)


class IdsChoiceFilter(django_filters.ModelMultipleChoiceFilter):
    field_class = IdsChoiceField


class DateFilter(django_filters.DateFilter):
    field_class = BoundedDateField


class _BoundedNumberFilter(django_filters.NumberFilter):
    def get_max_validator(self):
        return None  # the field has its bounds (django-filter adds 1e50)


class IntegerFilter(_BoundedNumberFilter):
    field_class = BoundedIntegerField


class AmountFilter(_BoundedNumberFilter):
    field_class = BoundedDecimalField


# Query-string parameters of a list that are never filters.
NON_FILTER_PARAMS = frozenset({"sort", "page", "per_page", "list"})


def canonical_filter_params(filterset_class, querydict) -> list[tuple[str, str]]:
    """The filter part of a query string, canonical (sorted, no empties), so
    two URLs showing the same rows compare equal."""
    pairs = []
    for key in sorted(querydict.keys()):
        if key in NON_FILTER_PARAMS or key not in filterset_class.base_filters:
            continue
        for value in querydict.getlist(key):
            if value.strip():
                pairs.append((key, value.strip()))
    return pairs
