"""Scheduling emails and text messages: a permission every role has. Those
without process_messages (Collectors) send their batches for approval; a
batch is a bulk operation, so Collectors may now start one (each action
still checks its own permission) and see the company's operations."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


GRANTS = {
    "Supervisor": ["communications.schedule_messages"],
    "Admin": ["communications.schedule_messages"],
    "Collector": [
        "communications.schedule_messages",
        "bulkops.add_bulkoperation",
        "bulkops.view_bulkoperation",
    ],
}


def _permission(apps, code):
    app_label, codename = code.split(".")
    return apps.get_model("auth", "Permission").objects.get(
        content_type__app_label=app_label, codename=codename
    )


def grant(apps, schema_editor):
    # Frozen here, like the other role migrations.
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
        ("communications", "0003_messages"),
        ("accounts", "0002_roles"),
        ("bulkops", "0004_export_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="messagetemplate",
            options={
                "ordering": ["channel", "name", "locale"],
                "permissions": [
                    ("approve_message", "Can approve message batches"),
                    ("process_messages", "Can send emails and text messages without approval"),
                    (
                        "schedule_messages",
                        "Can schedule emails and text messages (with approval, or without)",
                    ),
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
