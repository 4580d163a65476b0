"""Configuration screens. Tenant-owned rows (users, offices, accounts) are
scoped to the admin's company; platform superusers see everything."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts import models
from accounts.selectors import accounts_visible_to


class CompanyScopedAdmin(admin.ModelAdmin):
    """Shows only the rows of the admin's own company."""

    company_field = "company"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{self.company_field: request.user.company_id})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            if db_field.name == "company":
                kwargs["queryset"] = models.Company.objects.filter(pk=request.user.company_id)
            elif db_field.name == "office":
                kwargs["queryset"] = models.Office.objects.filter(
                    company_id=request.user.company_id
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(models.Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]


@admin.register(models.Office)
class OfficeAdmin(CompanyScopedAdmin):
    list_display = ["name", "company", "timezone", "max_messages_per_minute"]
    list_filter = ["company", "timezone"]
    search_fields = ["name", "company__name"]


@admin.register(models.User)
class UserAdmin(CompanyScopedAdmin, DjangoUserAdmin):
    list_display = [
        "username",
        "first_name",
        "last_name",
        "email",
        "company",
        "office",
        "role_names",
        "is_active",
    ]
    list_filter = ["groups", "company", "office", "is_active", "is_staff"]
    search_fields = ["username", "first_name", "last_name", "email"]
    fieldsets = DjangoUserAdmin.fieldsets + (
        ("Organisation", {"fields": ("company", "office", "timezone")}),
    )
    add_fieldsets = DjangoUserAdmin.add_fieldsets + (
        ("Organisation", {"fields": ("company", "office", "groups")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def role_names(self, obj):
        return ", ".join(g.name for g in obj.groups.all())


@admin.register(models.Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(models.Portfolio)
class PortfolioAdmin(admin.ModelAdmin):
    list_display = ["name", "client", "purchased_on"]
    list_filter = ["client"]
    search_fields = ["name", "client__name"]
    list_select_related = ["client"]


@admin.register(models.Creditor)
class CreditorAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(models.Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "contact_email", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]


@admin.register(models.AccountStatus)
class AccountStatusAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "is_active", "sort_order"]
    list_filter = ["category", "is_active"]
    list_editable = ["sort_order"]
    search_fields = ["name"]


@admin.register(models.Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(models.CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "field_type", "is_active"]
    list_filter = ["field_type", "is_active"]
    search_fields = ["name", "key"]
    prepopulated_fields = {"key": ["name"]}


@admin.register(models.FileType)
class FileTypeAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(models.NoteType)
class NoteTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(models.Account)
class AccountAdmin(admin.ModelAdmin):
    """Read-mostly: accounts are worked in the grid; changes go through services."""

    list_display = [
        "file_number",
        "client",
        "portfolio",
        "account_number",
        "debtor",
        "status",
        "current_balance",
        "assigned_to",
    ]
    list_filter = ["status", "stage", "client", "assigned_to"]
    search_fields = ["=file_number", "=account_number", "^debtor__last_name"]
    list_per_page = 50
    list_select_related = ["client", "portfolio", "debtor", "status", "assigned_to"]
    readonly_fields = [
        "current_balance",
        "last_payment_amount",
        "last_payment_date",
        "declined_count",
    ]
    raw_id_fields = ["debtor", "assigned_to", "created_by"]
    show_full_result_count = False

    def get_queryset(self, request):
        return accounts_visible_to(request.user).select_related(*self.list_select_related)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
