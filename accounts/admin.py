"""Configuration screens. Tenant-owned rows (users, offices, accounts) are
scoped to the admin's company; platform superusers see everything. Every
change saved here is audited (``bulkops.admin.AuditedAdmin``).

A company's Admin manages its own company's users, and only within the
product's roles: it never sees a superuser or another company's user, cannot
grant superuser status or individual permissions, cannot put a user in a
group other than the roles, and cannot move a user to another company.
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse

from accounts import models
from accounts.roles import ADMIN, ROLES
from accounts.selectors import accounts_visible_to
from bulkops.admin import CHANGED_SECRET, AuditedAdmin
from bulkops.services import record_audit_event


class CompanyScopedAdmin(AuditedAdmin, admin.ModelAdmin):
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

    def get_list_filter(self, request):
        """A sidebar filter lists only what the admin's own rows refer to:
        never another company's names."""
        if request.user.is_superuser:
            return self.list_filter
        return [
            (name, admin.RelatedOnlyFieldListFilter) if self._is_relation(name) else name
            for name in self.list_filter
            if name != "company"
        ]

    def _is_relation(self, name) -> bool:
        if not isinstance(name, str) or "__" in name:
            return False
        return self.model._meta.get_field(name).is_relation


@admin.register(models.Company)
class CompanyAdmin(CompanyScopedAdmin):
    company_field = "pk"
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
    # What a company's Admin edits: no superuser status, no staff flag (it
    # follows the Admin role), no individual permissions, no company (a
    # user stays in the company that made it).
    company_fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Role", {"fields": ("is_active", "groups")}),
        ("Organisation", {"fields": ("office", "timezone")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    company_add_fieldsets = (
        DjangoUserAdmin.add_fieldsets[0],
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Role and organisation", {"fields": ("groups", "office", "timezone")}),
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request).prefetch_related("groups")
        if not request.user.is_superuser:
            queryset = queryset.filter(is_superuser=False)
        return queryset

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        return self.company_fieldsets if obj else self.company_add_fieldsets

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ["last_login", "date_joined"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=ROLES).order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            # Whatever was posted, the user belongs to the admin's company.
            obj.company_id = request.user.company_id
            obj.is_superuser = False
        super().save_model(request, obj, form, change)

    def extra_audit_changes(self, request, obj, form, change):
        """A company Admin's users are staff exactly when they hold the Admin
        role (staff status opens the admin, which only Admins need)."""
        if request.user.is_superuser:
            return {}
        is_staff = obj.groups.filter(name=ADMIN).exists()
        if obj.is_staff == is_staff:
            return {}
        before = None if not change else obj.is_staff
        models.User.objects.filter(pk=obj.pk).update(is_staff=is_staff)
        obj.is_staff = is_staff
        return {"is_staff": (before, is_staff)}

    def user_change_password(self, request, id, form_url=""):
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                # Success redirects to the user's page; a refused form (the
                # conflicting-data case) back to this one.
                user = self.get_object(request, unquote(id))
                done_url = reverse("admin:accounts_user_change", args=[user.pk])
                if response["Location"] == done_url:
                    record_audit_event(
                        actor=request.user,
                        action=self.audit_action("password_changed"),
                        obj=user,
                        changes={"password": (None, CHANGED_SECRET)},
                    )
        return response

    @admin.display(description="Roles")
    def role_names(self, obj):
        return ", ".join(g.name for g in obj.groups.all())


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditedAdmin, DjangoGroupAdmin):
    """The roles. Only platform operators change them (a company's Admin may
    only view them); a company's Admin sees only the product's roles."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if not request.user.is_superuser:
            queryset = queryset.filter(name__in=ROLES)
        return queryset


@admin.register(models.Client)
class ClientAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(models.Portfolio)
class PortfolioAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "client", "purchased_on"]
    list_filter = ["client"]
    search_fields = ["name", "client__name"]
    list_select_related = ["client"]


@admin.register(models.Creditor)
class CreditorAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(models.Agency)
class AgencyAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "code", "contact_email", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]


@admin.register(models.AccountStatus)
class AccountStatusAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "category", "is_active", "sort_order"]
    list_filter = ["category", "is_active"]
    list_editable = ["sort_order"]
    search_fields = ["name"]


@admin.register(models.Flag)
class FlagAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "description", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(models.CustomField)
class CustomFieldAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "key", "field_type", "is_active"]
    list_filter = ["field_type", "is_active"]
    search_fields = ["name", "key"]
    prepopulated_fields = {"key": ["name"]}


@admin.register(models.FileType)
class FileTypeAdmin(AuditedAdmin, admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(models.NoteType)
class NoteTypeAdmin(AuditedAdmin, admin.ModelAdmin):
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
