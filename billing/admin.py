"""Billing's configuration in the settings (Django admin): a company's
billing policy (the total above which a bulk write-off waits for approval),
and the cancellation reasons Bulk Freeze offers, the platform's defaults and each company's own,
managed like every configuration list (``accounts.admin.ConfigurationAdmin``:
a company's Admin sees the defaults and changes only its own; audited)."""

from django.contrib import admin

from accounts.admin import ConfigurationAdmin
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

    list_display = ["company", "approval_above", "max_fee"]

    def has_add_permission(self, request):
        if not request.user.is_superuser and (
            BillingPolicy.objects.filter(company_id=request.user.company_id).exists()
        ):
            return False
        return super().has_add_permission(request)
