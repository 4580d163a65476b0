"""Write Off Balances: its permission, granted to Supervisors and Admins.

Frozen here, like accounts.0002_roles: a later change of a role's rights is a
new migration, so every database gets the same history."""

from django.db import migrations

from common import migration_helpers

GRANTS = {
    "Supervisor": ["billing.write_off_balances"],
    "Admin": ["billing.write_off_balances"],
}


def grant(apps, schema_editor):
    migration_helpers.grant(apps, GRANTS)


def revoke(apps, schema_editor):
    migration_helpers.revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("accounts", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="ledgerentry",
            options={
                "permissions": [("write_off_balances", "Can write off balances in bulk")],
                "verbose_name_plural": "ledger entries",
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
