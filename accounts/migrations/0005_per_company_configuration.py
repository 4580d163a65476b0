"""Per-company configuration: statuses, flags, custom fields, file types,
note types, clients, portfolios, creditors and agencies get an owning company.

Every existing row becomes a platform default (company empty): nothing is
copied, moved or lost, and every company keeps being offered what it was.
Names (client and agency codes, custom field keys) stay unique among the
defaults, as they were, and become unique within each company's own rows.

Going back is refused while a company has rows of its own: they would become
every company's defaults (or clash with one)."""

import django.db.models.deletion
from django.db import migrations, models

CONFIGURATION = [
    "AccountStatus",
    "Flag",
    "CustomField",
    "FileType",
    "NoteType",
    "Client",
    "Portfolio",
    "Creditor",
    "Agency",
]


def refuse_if_companies_own_rows(apps, schema_editor):
    owned = {
        name: count
        for name in CONFIGURATION
        if (count := apps.get_model("accounts", name).objects.filter(company__isnull=False).count())
    }
    if owned:
        listed = ", ".join(f"{count} {name}" for name, count in owned.items())
        raise RuntimeError(
            f"Companies have configuration of their own ({listed}): delete it (or make it "
            "platform defaults) before unapplying accounts.0005."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_one_primary_contact"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="portfolio",
            name="portfolio_unique_name",
        ),
        migrations.AddField(
            model_name="accountstatus",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty for a platform default, offered to every company.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="own_statuses",
                to="accounts.company",
            ),
        ),
        migrations.AddField(
            model_name="agency",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty for a platform default, offered to every company.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="own_agencies",
                to="accounts.company",
            ),
        ),
        migrations.AddField(
            model_name="client",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty for a platform default, offered to every company.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="own_clients",
                to="accounts.company",
            ),
        ),
        migrations.AddField(
            model_name="creditor",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty for a platform default, offered to every company.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="own_creditors",
                to="accounts.company",
            ),
        ),
        migrations.AddField(
            model_name="customfield",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty for a platform default, offered to every company.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="own_custom_fields",
                to="accounts.company",
            ),
        ),
        migrations.AddField(
            model_name="filetype",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty for a platform default, offered to every company.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="own_file_types",
                to="accounts.company",
            ),
        ),
        migrations.AddField(
            model_name="flag",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty for a platform default, offered to every company.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="own_flags",
                to="accounts.company",
            ),
        ),
        migrations.AddField(
            model_name="notetype",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty for a platform default, offered to every company.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="own_note_types",
                to="accounts.company",
            ),
        ),
        migrations.AddField(
            model_name="portfolio",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty for a platform default, offered to every company.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="own_portfolios",
                to="accounts.company",
            ),
        ),
        migrations.AlterField(
            model_name="accountstatus",
            name="name",
            field=models.CharField(max_length=100),
        ),
        migrations.AlterField(
            model_name="agency",
            name="code",
            field=models.CharField(max_length=20),
        ),
        migrations.AlterField(
            model_name="agency",
            name="name",
            field=models.CharField(max_length=200),
        ),
        migrations.AlterField(
            model_name="client",
            name="code",
            field=models.CharField(max_length=20),
        ),
        migrations.AlterField(
            model_name="client",
            name="name",
            field=models.CharField(max_length=200),
        ),
        migrations.AlterField(
            model_name="creditor",
            name="name",
            field=models.CharField(max_length=200),
        ),
        migrations.AlterField(
            model_name="customfield",
            name="key",
            field=models.SlugField(),
        ),
        migrations.AlterField(
            model_name="customfield",
            name="name",
            field=models.CharField(max_length=100),
        ),
        migrations.AlterField(
            model_name="filetype",
            name="name",
            field=models.CharField(max_length=100),
        ),
        migrations.AlterField(
            model_name="flag",
            name="name",
            field=models.CharField(max_length=100),
        ),
        migrations.AlterField(
            model_name="notetype",
            name="name",
            field=models.CharField(max_length=100),
        ),
        migrations.AddConstraint(
            model_name="accountstatus",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("name",),
                name="status_default_name_uniq",
                violation_error_message="A status with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="accountstatus",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "name"),
                name="status_own_name_uniq",
                violation_error_message="A status with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="agency",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("name",),
                name="agency_default_name_uniq",
                violation_error_message="An agency with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="agency",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "name"),
                name="agency_own_name_uniq",
                violation_error_message="An agency with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="agency",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("code",),
                name="agency_default_code_uniq",
                violation_error_message="An agency with this code exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="agency",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "code"),
                name="agency_own_code_uniq",
                violation_error_message="An agency with this code exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="client",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("name",),
                name="client_default_name_uniq",
                violation_error_message="A client with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="client",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "name"),
                name="client_own_name_uniq",
                violation_error_message="A client with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="client",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("code",),
                name="client_default_code_uniq",
                violation_error_message="A client with this code exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="client",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "code"),
                name="client_own_code_uniq",
                violation_error_message="A client with this code exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="creditor",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("name",),
                name="creditor_default_name_uniq",
                violation_error_message="A creditor with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="creditor",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "name"),
                name="creditor_own_name_uniq",
                violation_error_message="A creditor with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="customfield",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("name",),
                name="customfield_default_name_uniq",
                violation_error_message="A custom field with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="customfield",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "name"),
                name="customfield_own_name_uniq",
                violation_error_message="A custom field with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="customfield",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("key",),
                name="customfield_default_key_uniq",
                violation_error_message="A custom field with this key exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="customfield",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "key"),
                name="customfield_own_key_uniq",
                violation_error_message="A custom field with this key exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="filetype",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("name",),
                name="filetype_default_name_uniq",
                violation_error_message="A file type with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="filetype",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "name"),
                name="filetype_own_name_uniq",
                violation_error_message="A file type with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="flag",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("name",),
                name="flag_default_name_uniq",
                violation_error_message="A flag with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="flag",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "name"),
                name="flag_own_name_uniq",
                violation_error_message="A flag with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="notetype",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("name",),
                name="notetype_default_name_uniq",
                violation_error_message="A note type with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="notetype",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "name"),
                name="notetype_own_name_uniq",
                violation_error_message="A note type with this name exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="portfolio",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", True)),
                fields=("client", "name"),
                name="portfolio_default_client_name_uniq",
                violation_error_message="This client has a portfolio of this name.",
            ),
        ),
        migrations.AddConstraint(
            model_name="portfolio",
            constraint=models.UniqueConstraint(
                condition=models.Q(("company__isnull", False)),
                fields=("company", "client", "name"),
                name="portfolio_own_client_name_uniq",
                violation_error_message="This client has a portfolio of this name.",
            ),
        ),
        # Last, so that it runs first when unapplying.
        migrations.RunPython(migrations.RunPython.noop, refuse_if_companies_own_rows),
    ]
