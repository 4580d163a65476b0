import django_filters
from django import forms

from accounts.models import User
from accounts.selectors import company_users
from bulkops.models import AuditEvent, BulkOperation, BulkOperationItem
from bulkops.registry import all_actions
from common.filters import DateFilter, IntegerFilter


class OperationFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(label="Kind", choices=[])
    created_by = django_filters.ModelChoiceFilter(label="User", queryset=User.objects.none())
    status = django_filters.ChoiceFilter(choices=BulkOperation.Status.choices)
    created_after = DateFilter(
        field_name="created_at",
        lookup_expr="date__gte",
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    created_before = DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip

    class Meta:
        model = BulkOperation
        fields: list[str] = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["kind"].extra["choices"] = [(a.key, a.label) for a in all_actions()]
        self.filters["created_by"].queryset = company_users(user, active_only=False)


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
    action = django_filters.CharFilter(lookup_expr="istartswith", label="Action")
    actor = django_filters.ModelChoiceFilter(label="User", queryset=User.objects.none())
    bulk_operation = IntegerFilter(label="Bulk operation #", min_value=1, max_value=2**63 - 1)
    file_number = django_filters.CharFilter(label="File number", method="filter_file_number")
    occurred_after = DateFilter(
        field_name="occurred_at",
        lookup_expr="date__gte",
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    occurred_before = DateFilter(
        field_name="occurred_at", lookup_expr="date__lte", label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["actor"].queryset = company_users(user, active_only=False)

    def filter_file_number(self, queryset, name, value):
        from accounts.models import Account

        account_id = (
            Account.objects.filter(file_number=value.strip().upper())
            .values_list("pk", flat=True)
            .first()
        )
        if account_id is None:
            return queryset.none()
        return queryset.filter(object_type="accounts.account", object_id=account_id)
