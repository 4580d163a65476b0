"""The Messages pages' filters: the company's batches (status, channel,
user, dates) and a batch's messages (state, recipient). A value that is not
one of the choices (an unknown state, a user id that is not a number or not
the company's) makes its filter invalid: the page ignores that filter and
says so, as every list does."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from bulkops.filters import company_users
from bulkops.models import BulkOperation
from common.filters import DateFilter
from communications.models import Channel, Message, MessageState
from communications.selectors import KIND_CHANNELS


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _from_day(queryset, name, value):
    return queryset.filter(**{f"{name}__gte": _day_start(value)})


def _to_day(queryset, name, value):
    return queryset.filter(**{f"{name}__lt": _day_start(value + dt.timedelta(days=1))})


def _day_filter(label: str, method) -> DateFilter:
    return DateFilter(
        field_name="created_at",
        label=label,
        method=method,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class BatchFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        label="Status", choices=BulkOperation.Status.choices, empty_label="Any status"
    )
    channel = django_filters.ChoiceFilter(
        label="Channel", choices=Channel.choices, method="filter_channel", empty_label="Any channel"
    )
    created_by = django_filters.ModelChoiceFilter(
        label="User", queryset=get_user_model().objects.none(), empty_label="Anyone"
    )
    created_after = _day_filter("From", _from_day)
    created_before = _day_filter("To", _to_day)

    class Meta:
        model = BulkOperation
        fields: list[str] = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["created_by"].queryset = company_users(user)

    def filter_channel(self, queryset, name, value):
        """A batch is on a channel by its kind (Schedule Emails: email), by
        its parameters (Send Message), or by the messages it has queued."""
        kinds = [kind for kind, channel in KIND_CHANNELS.items() if channel == value]
        return queryset.filter(
            Q(kind__in=kinds)
            | Q(parameters__channel=value)
            | Exists(Message.objects.filter(bulk_operation=OuterRef("pk"), channel=value))
        )


class BatchMessageFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        label="State", choices=MessageState.choices, empty_label="Any state"
    )
    recipient = django_filters.CharFilter(
        field_name="to", lookup_expr="icontains", label="Recipient", max_length=254
    )

    class Meta:
        model = Message
        fields: list[str] = []


def ignored_filters(filterset) -> list[str]:
    """A notice for each filter whose value could not be used."""
    form = filterset.form
    if not filterset.is_bound or form.is_valid():
        return []
    return [
        f"{form.fields[name].label if name in form.fields else name}: {' '.join(errors)} "
        "This filter is ignored."
        for name, errors in form.errors.items()
    ]
