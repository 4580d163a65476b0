"""What the role-grant migrations share: give the role groups permissions,
and take them back when unapplied. Each migration keeps its own frozen
GRANTS (a role's rights change only by a new migration); this is only the
mechanics, written once."""

from __future__ import annotations

from django.contrib.auth.management import create_permissions


def _permission(apps, code: str):
    app_label, codename = code.split(".")
    return apps.get_model("auth", "Permission").objects.get(
        content_type__app_label=app_label, codename=codename
    )


def grant(apps, grants: dict[str, list[str]]) -> None:
    """Add each role's permissions ("app_label.codename"), creating the group
    when it is missing."""
    # Permissions are normally created after all migrations ran; make sure
    # they exist now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, codes in grants.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*(_permission(apps, code) for code in codes))


def revoke(apps, grants: dict[str, list[str]]) -> None:
    Group = apps.get_model("auth", "Group")
    for role, codes in grants.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*(_permission(apps, code) for code in codes))
