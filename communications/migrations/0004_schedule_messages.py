"""Scheduling emails and text messages: a permission every role has. Those
without process_messages (Collectors) send their batches for approval; a
batch is a bulk operation, so Collectors may now start one (each action
still checks its own permission) and see the company's operations."""

from django.db import migrations

from common import migration_helpers


GRANTS = {
    "Supervisor": ["communications.schedule_messages"],
    "Admin": ["communications.schedule_messages"],
    "Collector": [
        "communications.schedule_messages",
        "bulkops.add_bulkoperation",
        "bulkops.view_bulkoperation",
    ],
}


def grant(apps, schema_editor):
    migration_helpers.grant(apps, GRANTS)


def revoke(apps, schema_editor):
    migration_helpers.revoke(apps, GRANTS)


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
