"""Billing's configuration in the settings (Django admin): the cancellation
reasons Bulk Freeze offers, the platform's defaults and each company's own,
managed like every configuration list (``accounts.admin.ConfigurationAdmin``:
a company's Admin sees the defaults and changes only its own; audited)."""

from django.contrib import admin

from accounts.admin import ConfigurationAdmin
from billing.models import CancellationReason


@admin.register(CancellationReason)
class CancellationReasonAdmin(ConfigurationAdmin):
    list_display = ["name", "is_active", "sort_order"]
    list_filter = ["is_active"]
    list_editable = ["sort_order"]
    search_fields = ["name"]
