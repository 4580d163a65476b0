"""Indexes for the grid's search box on PostgreSQL.

Django's case-insensitive lookups compile to UPPER("col"::text) LIKE/=, so
these expression indexes match them exactly. SQLite (the small embedded
setup) does without."""

from django.db import migrations

INDEXES = {
    "debtor_last_name_upper_idx": 'accounts_debtor (UPPER("last_name"::text) text_pattern_ops)',
    "debtor_first_name_upper_idx": 'accounts_debtor (UPPER("first_name"::text))',
    "debtoremail_address_upper_idx": 'accounts_debtoremail (UPPER("address"::text))',
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, target in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_roles")]
    operations = [migrations.RunPython(create, drop)]
