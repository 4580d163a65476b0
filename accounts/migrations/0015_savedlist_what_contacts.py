"""A saved list's What Contacts (seed 003): all accounts, those assigned to
whoever opens the list, or the unassigned ones. Existing lists show all."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0014_mass_edit_permission"),
    ]

    operations = [
        migrations.AddField(
            model_name="savedlist",
            name="what_contacts",
            field=models.CharField(
                choices=[
                    ("all", "All Accounts"),
                    ("mine", "My Accounts"),
                    ("unassigned", "Unassigned Accounts"),
                ],
                default="all",
                max_length=20,
                verbose_name="What Contacts",
            ),
        ),
    ]
