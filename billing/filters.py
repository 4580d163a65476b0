"""The filters of the frozen customers list (Bulk Freeze Rollback)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from accounts.selectors import configuration_visible_to
from billing.models import AccountFreeze, CancellationReason
from billing.selectors import freezes_visible_to


class FrozenFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        label="File number or name", method="filter_search", max_length=100
    )
    reason = django_filters.ModelChoiceFilter(
        label="Cancellation reason", queryset=CancellationReason.objects.none()
    )
    frozen_from = django_filters.DateFilter(
        label="Frozen from",
        field_name="frozen_at",
        lookup_expr="date__gte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    frozen_to = django_filters.DateFilter(
        label="Frozen to",
        field_name="frozen_at",
        lookup_expr="date__lte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AccountFreeze
        fields: list[str] = []

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:
            self.filters["reason"].queryset = configuration_visible_to(user, CancellationReason)

    @classmethod
    def for_user(cls, user, data) -> FrozenFilter:
        """The frozen customers ``user`` may see, filtered by ``data``."""
        return cls(data, queryset=freezes_visible_to(user).order_by("-frozen_at", "-pk"), user=user)

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(
            Q(account__file_number__startswith=term.upper())
            | Q(account__debtor__last_name__istartswith=term)
            | Q(account__debtor__first_name__istartswith=term)
        )
