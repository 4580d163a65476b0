"""Every role sees the messages: the Messages page (the company's message
batches and their messages) and the account page's Messages section. Who
may cancel a batch or decide an unknown message is checked by its own
permission (process_messages)."""

from django.db import migrations

from common import migration_helpers

VIEW = ["communications.view_message"]
GRANTS = {"Collector": VIEW, "Supervisor": VIEW, "Admin": VIEW}


def grant(apps, schema_editor):
    migration_helpers.grant(apps, GRANTS)


def revoke(apps, schema_editor):
    migration_helpers.revoke(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("communications", "0006_inbound_and_events"),
        ("accounts", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
