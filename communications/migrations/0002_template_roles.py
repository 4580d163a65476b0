"""The roles' rights over message templates and sending.

Frozen here, like accounts.0002_roles: a later change of a role's rights is a
new migration, so every database gets the same history. Collectors and
Supervisors read templates (to pick one when sending); Admins write them;
Supervisors and Admins send without approval and approve others' batches."""

from django.db import migrations

from common import migration_helpers

VIEW = ["communications.view_messagetemplate"]
WRITE = [
    "communications.add_messagetemplate",
    "communications.change_messagetemplate",
    "communications.delete_messagetemplate",
]
SEND = ["communications.process_messages", "communications.approve_message"]
GRANTS = {"Collector": VIEW, "Supervisor": VIEW + SEND, "Admin": VIEW + WRITE + SEND}


def grant(apps, schema_editor):
    migration_helpers.grant(apps, GRANTS)


def revoke(apps, schema_editor):
    migration_helpers.revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("communications", "0001_initial"),
        ("accounts", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
