"""Billing's configuration in the settings (Django admin): a company's
billing policy (the total above which a bulk write-off waits for approval),
and the cancellation reasons Bulk Freeze offers, the platform's defaults and each company's own,
managed like every configuration list (``accounts.admin.ConfigurationAdmin``:
a company's Admin sees the defaults and changes only its own; audited)."""

from django.contrib import admin

from accounts.admin import ConfigurationAdmin
from accounts.models import WorkQueue
from accounts.work import teams_for
from billing.models import BillingPolicy, CancellationReason, ServiceType
from bulkops.admin import OwnCompanyAdmin


@admin.register(CancellationReason)
class CancellationReasonAdmin(ConfigurationAdmin):
    list_display = ["name", "is_active", "sort_order"]
    list_filter = ["is_active"]
    list_editable = ["sort_order"]
    search_fields = ["name"]


@admin.register(ServiceType)
class ServiceTypeAdmin(ConfigurationAdmin):
    list_display = ["name", "is_active", "sort_order"]
    list_filter = ["is_active"]
    list_editable = ["sort_order"]
    search_fields = ["name"]


@admin.register(BillingPolicy)
class BillingPolicyAdmin(OwnCompanyAdmin):
    """A company's Admin sets its own company's approval limit (one policy a company)."""

    list_display = ["company", "approval_above", "max_fee", "task_on_broken_promise"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # The broken promises' queue is one of the admin's own company's.
        if db_field.name == "broken_promise_queue":
            kwargs["queryset"] = teams_for(request.user, WorkQueue)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request):
        if not request.user.is_superuser and (
            BillingPolicy.objects.filter(company_id=request.user.company_id).exists()
        ):
            return False
        return super().has_add_permission(request)
