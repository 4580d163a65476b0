"""An item names a row of its operation's list by id, not an account: the
engine serves any selectable list (accounts now; message batches and others
later). The column is renamed in place (no rewrite of a table that holds
every operation's snapshot); the constraint and index keep their rows."""

from django.db import migrations, models

TABLE = "bulkops_bulkoperationitem"
# Every operation so far was one of these actions, all over the accounts grid.
ACCOUNT_ACTIONS = ["assign", "change_status", "flags", "stage", "export"]


def name_the_list(apps, schema_editor):
    apps.get_model("bulkops", "BulkOperation").objects.filter(kind__in=ACCOUNT_ACTIONS).update(
        target="accounts"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("bulkops", "0007_export_purged_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="bulkoperation",
            name="target",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The list its rows are from (a registered selectable).",
                max_length=50,
            ),
        ),
        migrations.RunPython(name_the_list, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE {TABLE} RENAME COLUMN account_id TO target_id",
                    f"ALTER TABLE {TABLE} RENAME COLUMN target_id TO account_id",
                ),
            ],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="bulkoperationitem", name="bulkop_item_unique"
                ),
                migrations.RemoveIndex(
                    model_name="bulkoperationitem", name="bulkop_item_account_idx"
                ),
                migrations.RemoveField(model_name="bulkoperationitem", name="account"),
                migrations.AddField(
                    model_name="bulkoperationitem",
                    name="target_id",
                    field=models.BigIntegerField(
                        default=0, help_text="The row of the operation's list (an account, say)."
                    ),
                    preserve_default=False,
                ),
                migrations.AddConstraint(
                    model_name="bulkoperationitem",
                    constraint=models.UniqueConstraint(
                        fields=["operation", "target_id"], name="bulkop_item_unique"
                    ),
                ),
                migrations.AddIndex(
                    model_name="bulkoperationitem",
                    index=models.Index(fields=["target_id"], name="bulkop_item_account_idx"),
                ),
            ],
        ),
        migrations.RenameIndex(
            model_name="bulkoperationitem",
            new_name="bulkop_item_target_idx",
            old_name="bulkop_item_account_idx",
        ),
        migrations.AlterField(
            model_name="bulkoperation",
            name="cursor",
            field=models.BigIntegerField(
                default=0, help_text="Items up to this row id have been through a chunk."
            ),
        ),
    ]
