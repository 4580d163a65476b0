from django.db import migrations

from common import migration_helpers

# A company's Admin sets its weekly caps, its HELP answer and its states'
# call limits in the settings.
GRANTS = {
    "Admin": [
        "communications.view_contactpolicy",
        "communications.add_contactpolicy",
        "communications.change_contactpolicy",
        "communications.view_statecalllimit",
        "communications.add_statecalllimit",
        "communications.change_statecalllimit",
        "communications.delete_statecalllimit",
    ],
}


def grant(apps, schema_editor):
    migration_helpers.grant(apps, GRANTS)


def revoke(apps, schema_editor):
    migration_helpers.revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("communications", "0011_contact_preferences")]

    operations = [migrations.RunPython(grant, revoke)]
