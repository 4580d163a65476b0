"""The roles' rights over message templates and sending.

Frozen here, like accounts.0002_roles: a later change of a role's rights is a
new migration, so every database gets the same history. Collectors and
Supervisors read templates (to pick one when sending); Admins write them;
Supervisors and Admins send without approval and approve others' batches."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ["communications.view_messagetemplate"]
WRITE = [
    "communications.add_messagetemplate",
    "communications.change_messagetemplate",
    "communications.delete_messagetemplate",
]
SEND = ["communications.process_messages", "communications.approve_message"]
GRANTS = {"Collector": VIEW, "Supervisor": VIEW + SEND, "Admin": VIEW + WRITE + SEND}


def _permission(apps, code):
    app_label, codename = code.split(".")
    return apps.get_model("auth", "Permission").objects.get(
        content_type__app_label=app_label, codename=codename
    )


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; make sure
    # they exist now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, codes in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*(_permission(apps, code) for code in codes))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role, codes in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*(_permission(apps, code) for code in codes))


class Migration(migrations.Migration):
    dependencies = [
        ("communications", "0001_initial"),
        ("accounts", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
