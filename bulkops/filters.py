"""The engine's lists' filters: operations, an operation's outcomes, the
audit log. Date filters compare against the day's bounds in the current
time zone (not ``__date``), so that a range is an index range."""

import datetime as dt

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from bulkops import registry
from bulkops.models import AuditEvent, BulkOperation, BulkOperationItem, SelectionFileRow
from bulkops.services.selection_files import selection_file_of
from common.filters import DateFilter, IntegerFilter


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _from_day(queryset, name, value):
    return queryset.filter(**{f"{name}__gte": _day_start(value)})


def _to_day(queryset, name, value):
    return queryset.filter(**{f"{name}__lt": _day_start(value + dt.timedelta(days=1))})


def _day_filter(field: str, label: str, method) -> DateFilter:
    return DateFilter(
        field_name=field, label=label, method=method, widget=forms.DateInput(attrs={"type": "date"})
    )


def company_users(user):
    """Everyone of the user's company, past users included (they appear in
    the history); every user for the platform operator."""
    users = get_user_model().objects.all()
    if not user.is_superuser:
        users = users.filter(company_id=user.company_id)
    return users.order_by("last_name", "first_name", "username")


class OperationFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(label="Kind", choices=[])
    created_by = django_filters.ModelChoiceFilter(
        label="User", queryset=get_user_model().objects.none()
    )
    status = django_filters.ChoiceFilter(choices=BulkOperation.Status.choices)
    created_after = _day_filter("created_at", "From", _from_day)
    created_before = _day_filter("created_at", "To", _to_day)

    class Meta:
        model = BulkOperation
        fields: list[str] = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["kind"].extra["choices"] = [(a.key, a.label) for a in registry.all_actions()]
        self.filters["created_by"].queryset = company_users(user)


class ItemFilter(django_filters.FilterSet):
    """Over ``items.with_settled_outcome()``."""

    outcome = django_filters.ChoiceFilter(
        field_name="settled_outcome",
        choices=BulkOperationItem.Outcome.choices,
        empty_label="All outcomes",
    )

    class Meta:
        model = BulkOperationItem
        fields: list[str] = []


class AuditFilter(django_filters.FilterSet):
    """Besides these, one search per selectable list that can find a row by
    what users type (the accounts grid: "File Number")."""

    action = django_filters.CharFilter(lookup_expr="istartswith", label="Action")
    actor = django_filters.ModelChoiceFilter(label="User", queryset=get_user_model().objects.none())
    bulk_operation = IntegerFilter(label="Bulk operation #", min_value=1, max_value=2**63 - 1)
    occurred_after = _day_filter("occurred_at", "From", _from_day)
    occurred_before = _day_filter("occurred_at", "To", _to_day)

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["actor"].queryset = company_users(user)
        for selectable in registry.selectables():
            if selectable.find_row and selectable.row_param:
                row_filter = django_filters.CharFilter(
                    label=selectable.row_label, method=self._row_finder(selectable)
                )
                row_filter.model = AuditEvent
                row_filter.parent = self
                self.filters[selectable.row_param] = row_filter

    @staticmethod
    def _row_finder(selectable):
        def filter_row(queryset, name, value):
            row_id = selectable.find_row(value)
            if row_id is None:
                return queryset.none()
            return queryset.filter(object_type=selectable.object_type, object_id=row_id)

        return filter_row


class SelectionFileFilter(django_filters.NumberFilter):
    """``file=<id>``: the rows of one of the user's uploaded selection files
    (bulkops.services.selection_files). Any list's FilterSet can declare it
    with its list's key; the FilterSet must keep its user as ``self.user``.
    Fails closed: a file that is not the user's, another list's or expired
    matches no row, never every row."""

    def __init__(self, *args, selectable: str, **kwargs):
        kwargs.setdefault("label", "From file")
        kwargs.setdefault("widget", forms.HiddenInput)
        super().__init__(*args, **kwargs)
        self.selectable = selectable

    def filter(self, queryset, value):
        if value in (None, ""):
            return queryset
        selection_file = selection_file_of(
            getattr(self.parent, "user", None), self.selectable, value
        )
        if selection_file is None:
            return queryset.none()
        return queryset.filter(
            pk__in=SelectionFileRow.objects.filter(file_id=selection_file.pk).values("target_id")
        )
