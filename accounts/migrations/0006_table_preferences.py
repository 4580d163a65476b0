"""The grid's remembered columns move to common.TablePreference (table
"accounts"), the per-user preferences every table can use; the grid's own
model and its unused per_page go. Unapplying copies them back."""

from django.db import migrations

GRID_TABLE = "accounts"


def to_table_preferences(apps, schema_editor):
    GridPreference = apps.get_model("accounts", "GridPreference")
    TablePreference = apps.get_model("common", "TablePreference")
    TablePreference.objects.bulk_create(
        [
            TablePreference(user_id=user_id, table=GRID_TABLE, columns=columns)
            for user_id, columns in GridPreference.objects.values_list("user_id", "columns")
        ],
        batch_size=1000,
    )


def to_grid_preferences(apps, schema_editor):
    GridPreference = apps.get_model("accounts", "GridPreference")
    TablePreference = apps.get_model("common", "TablePreference")
    GridPreference.objects.bulk_create(
        [
            GridPreference(user_id=user_id, columns=columns)
            for user_id, columns in TablePreference.objects.filter(table=GRID_TABLE).values_list(
                "user_id", "columns"
            )
        ],
        batch_size=1000,
    )
    TablePreference.objects.filter(table=GRID_TABLE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_per_company_configuration"),
        ("common", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(to_table_preferences, to_grid_preferences),
        migrations.DeleteModel(name="GridPreference"),
    ]
