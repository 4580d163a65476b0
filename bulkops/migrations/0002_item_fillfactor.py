"""Leave room on each page of the items table so that writing an outcome is
an in-place (HOT) update on PostgreSQL."""

from django.db import migrations


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE bulkops_bulkoperationitem SET (fillfactor = 70)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE bulkops_bulkoperationitem RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("bulkops", "0001_initial")]
    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
