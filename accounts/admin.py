"""Configuration screens. Tenant-owned rows (users, offices, accounts) are
scoped to the admin's company; platform superusers see everything. Every
change saved here is audited (``bulkops.admin.AuditedAdmin``).

Configuration (statuses, flags, custom fields, file types, note types,
clients, portfolios, creditors, agencies; ``ConfigurationAdmin``) is the
platform's defaults plus each company's own. A company's Admin sees the
defaults read-only and its own rows editable, creates rows only in its own
company, and never sees another company's; the platform operator manages
the defaults and everything else. A sidebar filter lists only what the
admin's own rows refer to.

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
from accounts.selectors import (
    accounts_visible_to,
    company_users,
    configuration_clashes,
    configuration_visible_to,
)
from bulkops.admin import CHANGED_SECRET, AuditedAdmin, OwnCompanyAdmin
from bulkops.services import record_audit_event
from common.admin_forms import OwnCompanyRowForm


class TenantListFilters:
    """Mix into a ``ModelAdmin`` whose queryset is scoped to the admin's
    company (and the defaults): a sidebar filter lists only what the rows it
    may see refer to, never another company's names."""

    def get_list_filter(self, request):
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


class CompanyScopedAdmin(TenantListFilters, AuditedAdmin, admin.ModelAdmin):
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


# --- configuration: platform defaults and each company's own -------------------------


class ConfigurationForm(OwnCompanyRowForm):
    """Refuses a name (code, key) that a row offered alongside this one has
    already: among the defaults, among one company's own rows, and, what no
    database constraint can say, between a company's own row and the
    defaults it is offered with."""

    def clean(self):
        cleaned = super().clean()
        if "company" in self.fields:
            if "company" in self.errors:
                return cleaned
            company = cleaned.get("company")
        else:
            company = self.instance.company
        model = self._meta.model
        values = {
            name: cleaned.get(name) if name in self.fields else getattr(self.instance, name, None)
            for groups in models.CONFIGURATION_UNIQUE[model]
            for name in groups
        }
        clashes = configuration_clashes(
            model,
            company_id=company.pk if company else None,
            values=values,
            exclude_pk=self.instance.pk,
        )
        for fields, clash in clashes:
            if fields[-1] in self.fields and fields[-1] not in self.errors:
                self.add_error(fields[-1], self._clash_message(model, fields, company, clash))
        return cleaned

    @staticmethod
    def _clash_message(model, fields, company, clash) -> str:
        opts = model._meta
        thing = opts.verbose_name
        if len(fields) > 1:  # a portfolio's name is unique for its client
            thing += " of this " + opts.get_field(fields[0]).verbose_name
        label = opts.get_field(fields[-1]).verbose_name
        if company is None and clash.company_id is None:
            return f"A platform default {thing} has this {label} already."
        if company is None:
            return (
                f"{clash.company} has its own {thing} with this {label}, and a default "
                "would be offered alongside it. Choose another."
            )
        if clash.company_id is None:
            return (
                f"A platform default {thing} has this {label}, and {company} is offered "
                f"the defaults already. Choose another {label}."
            )
        return f"{company} has its own {thing} with this {label} already."


class ConfigurationAdmin(TenantListFilters, AuditedAdmin, admin.ModelAdmin):
    """A configuration model: the platform's defaults (no company) and each
    company's own rows. A company's Admin sees the defaults (read-only) and
    its own (editable), adds rows to its own company only, and picks foreign
    keys among what its company is offered. A row's company is set when it
    is made: moving a row would leave accounts of other companies on a row
    they are no longer offered."""

    form = ConfigurationForm

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset & configuration_visible_to(request.user, self.model)

    def _is_own(self, request, obj) -> bool:
        company_id = request.user.company_id
        return company_id is not None and obj.company_id == company_id

    def has_add_permission(self, request):
        allowed = super().has_add_permission(request)
        return allowed and (request.user.is_superuser or request.user.company_id is not None)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if not allowed or obj is None or request.user.is_superuser:
            return allowed
        return self._is_own(request, obj)

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        if not allowed or obj is None or request.user.is_superuser:
            return allowed
        return self._is_own(request, obj)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser:
            exclude.append("company")
        return exclude

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and request.user.is_superuser:
            readonly.append("company")
        return readonly

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.admin_user = request.user  # a new class each call
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if not request.user.is_superuser and related in models.CONFIGURATION_UNIQUE:
            kwargs["queryset"] = configuration_visible_to(request.user, related)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and not change:
            obj.company_id = request.user.company_id
        super().save_model(request, obj, form, change)

    def extra_audit_changes(self, request, obj, form, change):
        """A company's Admin's new row records whose it is (the form has no
        company field to record it)."""
        if change or "company" in form.changed_data or obj.company_id is None:
            return {}
        return {"company": (None, str(obj.company))}

    def get_list_display(self, request):
        return [*super().get_list_display(request), "owner"]

    def get_list_select_related(self, request):
        related = super().get_list_select_related(request)
        if related is True:
            return True
        return [*(related or []), "company"]

    def get_list_filter(self, request):
        if request.user.is_superuser:
            return [*self.list_filter, "company"]
        return super().get_list_filter(request)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        if not request.user.is_superuser:
            # The list's editable columns would reach the defaults (Django
            # checks the model's change permission there, not each row's):
            # a company's Admin edits a row on its own page.
            changelist.list_editable = ()
        return changelist

    @admin.display(description="Company", ordering="company__name")
    def owner(self, obj):
        return obj.company.name if obj.company_id else "Platform default"


@admin.register(models.Client)
class ClientAdmin(ConfigurationAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(models.Portfolio)
class PortfolioAdmin(ConfigurationAdmin):
    list_display = ["name", "client", "purchased_on"]
    list_filter = ["client"]
    search_fields = ["name", "client__name"]
    list_select_related = ["client"]


@admin.register(models.Creditor)
class CreditorAdmin(ConfigurationAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(models.Agency)
class AgencyAdmin(ConfigurationAdmin):
    list_display = ["name", "code", "contact_email", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]


@admin.register(models.AccountStatus)
class AccountStatusAdmin(ConfigurationAdmin):
    list_display = ["name", "category", "is_active", "sort_order"]
    list_filter = ["category", "is_active"]
    list_editable = ["sort_order"]
    search_fields = ["name"]


@admin.register(models.Flag)
class FlagAdmin(ConfigurationAdmin):
    list_display = ["name", "description", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(models.CustomField)
class CustomFieldAdmin(ConfigurationAdmin):
    list_display = ["name", "key", "field_type", "is_active"]
    list_filter = ["field_type", "is_active"]
    search_fields = ["name", "key"]
    prepopulated_fields = {"key": ["name"]}


@admin.register(models.FileType)
class FileTypeAdmin(ConfigurationAdmin):
    search_fields = ["name"]


@admin.register(models.NoteType)
class NoteTypeAdmin(ConfigurationAdmin):
    list_display = ["name", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(models.InteractionOutcome)
class InteractionOutcomeAdmin(NoteTypeAdmin):
    pass


@admin.register(models.DelinquencyReason)
class DelinquencyReasonAdmin(NoteTypeAdmin):
    pass


class TeamAdmin(OwnCompanyAdmin):
    """A company's queues and groups: its Admin names them and picks their
    members among the company's own users."""

    list_display = ["name", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    filter_horizontal = ["members"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "members":
            kwargs["queryset"] = company_users(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


admin.site.register(models.WorkQueue, TeamAdmin)
admin.site.register(models.WorkGroup, TeamAdmin)


# --- accounts ---------------------------------------------------------------------------


def _offered(choices):
    """A sidebar filter of a relation listing ``choices(user)``: what the
    admin's company is offered, without reading the accounts to find out."""

    class OfferedFilter(admin.RelatedFieldListFilter):
        def field_choices(self, field, request, model_admin):
            ordering = self.field_admin_ordering(field, request, model_admin)
            offered = choices(request.user).values("pk")
            return field.get_choices(
                include_blank=False, limit_choices_to={"pk__in": offered}, ordering=ordering
            )

    return OfferedFilter


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
    # What a company's Admin is offered in the sidebar: its statuses and
    # clients (the defaults and its own) and its users, never another's.
    company_list_filter = [
        ("status", _offered(lambda user: configuration_visible_to(user, models.AccountStatus))),
        "stage",
        ("client", _offered(lambda user: configuration_visible_to(user, models.Client))),
        ("assigned_to", _offered(lambda user: company_users(user, active_only=False))),
    ]

    def get_queryset(self, request):
        return accounts_visible_to(request.user).select_related(*self.list_select_related)

    def get_list_filter(self, request):
        return self.list_filter if request.user.is_superuser else self.company_list_filter

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
