from django.db import migrations, models
from django.db.models import Exists, OuterRef


def keep_first_primary(apps, schema_editor):
    """Where a debtor has several primary emails (or phones), the oldest stays
    primary, as every reader already took the first by id."""
    for name in ("DebtorEmail", "DebtorPhone"):
        model = apps.get_model("accounts", name)
        earlier = model.objects.filter(
            debtor_id=OuterRef("debtor_id"), is_primary=True, id__lt=OuterRef("id")
        )
        model.objects.filter(is_primary=True).filter(Exists(earlier)).update(is_primary=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_search_indexes"),
    ]

    operations = [
        migrations.RunPython(keep_first_primary, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="debtoremail",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_primary", True)),
                fields=("debtor",),
                name="debtoremail_one_primary",
            ),
        ),
        migrations.AddConstraint(
            model_name="debtorphone",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_primary", True)),
                fields=("debtor",),
                name="debtorphone_one_primary",
            ),
        ),
    ]
