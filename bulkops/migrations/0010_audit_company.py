"""Each audit event carries the company it belongs to, so that a company's
audit log is an index range (it was an OR of three conditions, which
PostgreSQL could only answer by reading every event). Existing events get
the company of the row they are about, else that of their actor."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


# (object type, the SQL giving the company of the row ``object_id`` names)
OWNERS = [
    ("accounts.account", "SELECT o.company_id FROM accounts_account o WHERE o.id = {e}.object_id"),
    ("accounts.user", "SELECT o.company_id FROM accounts_user o WHERE o.id = {e}.object_id"),
    ("accounts.company", "SELECT o.id FROM accounts_company o WHERE o.id = {e}.object_id"),
    ("accounts.office", "SELECT o.company_id FROM accounts_office o WHERE o.id = {e}.object_id"),
    (
        "accounts.savedlist",
        "SELECT o.company_id FROM accounts_savedlist o WHERE o.id = {e}.object_id",
    ),
    (
        "bulkops.bulkoperation",
        "SELECT o.company_id FROM bulkops_bulkoperation o WHERE o.id = {e}.object_id",
    ),
    (
        "billing.payment",
        "SELECT a.company_id FROM billing_payment o JOIN accounts_account a "
        "ON a.id = o.account_id WHERE o.id = {e}.object_id",
    ),
]
EVENTS = "bulkops_auditevent"


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for object_type, owner in OWNERS:
            cursor.execute(
                f"UPDATE {EVENTS} SET company_id = ({owner.format(e=EVENTS)}) "
                "WHERE object_type = %s",
                [object_type],
            )
        cursor.execute(
            f"UPDATE {EVENTS} SET company_id = (SELECT u.company_id FROM accounts_user u "
            f"WHERE u.id = {EVENTS}.actor_id) WHERE company_id IS NULL"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_one_primary_contact"),
        ("bulkops", "0009_operation_lifecycle"),
        ("billing", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="accounts.company",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RemoveIndex(
            model_name="auditevent",
            name="audit_operation_idx",
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["bulk_operation", "occurred_at", "id"], name="audit_operation_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["company", "occurred_at", "id"], name="audit_company_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["actor", "occurred_at", "id"], name="audit_actor_idx"),
        ),
    ]
