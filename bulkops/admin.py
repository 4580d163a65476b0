"""The audit of configuration changes made in the Django admin.

``AuditedAdmin`` is mixed into every admin screen of the project: each add,
change and delete saved there becomes an ``AuditEvent`` (who, what, each
changed field before and after) in the same transaction as the change, like
every other change of the product. Values are recorded readably (a foreign
key or many-to-many by the objects' names) and secrets never: a password
field records only that it changed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction

from bulkops.services import record_audit_event

# Fields whose values are never written to the audit trail, only the fact
# that they changed.
SECRET_FIELDS = frozenset({"password", "password1", "password2", "usable_password"})
CHANGED_SECRET = "(changed)"  # noqa: S105 (a placeholder shown instead of one)


def _readable(value: Any) -> Any:
    """A value as the audit log shows it: objects by name, lists sorted."""
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, models.QuerySet | list | tuple | set | frozenset):
        return sorted(str(v) if isinstance(v, models.Model) else v for v in value)
    return value


def _initial_value(form, name: str) -> Any:
    """The field's value before the change. A change form's initial value of
    a foreign key is the related object's id: show the object instead."""
    value = form.initial.get(name)
    field = form.fields.get(name)
    queryset = getattr(field, "queryset", None)
    if queryset is not None and value is not None and not isinstance(value, list | tuple):
        found = queryset.model._base_manager.filter(pk=value).first()
        return found if found is not None else value
    return value


def form_changes(form, *, add: bool) -> dict[str, tuple[Any, Any]]:
    """Each field the admin form changed: (before, after), readable."""
    changes = {}
    for name in form.changed_data:
        if name in SECRET_FIELDS:
            changes["password"] = (None, CHANGED_SECRET)
            continue
        before = None if add else _readable(_initial_value(form, name))
        after = _readable(form.cleaned_data.get(name))
        if before != after:
            changes[name] = (before, after)
    return changes


class AuditedAdmin:
    """Mix into a ``ModelAdmin``: every save and delete is audited."""

    def audit_action(self, verb: str) -> str:
        return f"{self.model._meta.model_name}.{verb}"

    def extra_audit_changes(self, request, obj, form, change) -> dict[str, tuple[Any, Any]]:
        """Changes the admin makes besides the form's (derived fields)."""
        return {}

    def save_related(self, request, form, formsets, change):
        # Runs after save_model and the many-to-many save: the object and all
        # of its relations are in their final state here.
        super().save_related(request, form, formsets, change)
        changes = form_changes(form, add=not change)
        changes.update(self.extra_audit_changes(request, form.instance, form, change))
        if changes or not change:
            record_audit_event(
                actor=request.user,
                action=self.audit_action("changed" if change else "created"),
                obj=form.instance,
                changes=changes,
            )

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._audit_deletion(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self._audit_deletion(request, obj)
            super().delete_queryset(request, queryset)

    def _audit_deletion(self, request, obj):
        record_audit_event(
            actor=request.user,
            action=self.audit_action("deleted"),
            obj=obj,
            changes={"name": (str(obj), None)},
        )


class OwnCompanyAdmin(AuditedAdmin, admin.ModelAdmin):
    """A company's Admin: only its company's rows, made for its company
    whatever is posted (the company field is not theirs to choose)."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(company_id=request.user.company_id)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser:
            exclude.append("company")
        return exclude

    def has_add_permission(self, request):
        allowed = super().has_add_permission(request)
        return allowed and (request.user.is_superuser or request.user.company_id is not None)

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.company_id = request.user.company_id
        super().save_model(request, obj, form, change)
