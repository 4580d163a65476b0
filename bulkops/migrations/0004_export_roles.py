"""Grant the Admin role the right to download anyone's export (of its company).

Frozen here, like accounts.0002_roles: a later change of a role's rights is a
new migration, so every database gets the same history."""

from django.db import migrations

from common import migration_helpers

GRANTS = {"Admin": ["bulkops.download_any_export"]}


def grant(apps, schema_editor):
    migration_helpers.grant(apps, GRANTS)


def revoke(apps, schema_editor):
    migration_helpers.revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("bulkops", "0003_exports"),
        ("accounts", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
