from django.db import migrations


class Migration(migrations.Migration):
    """A contact point's opt-out date becomes its channel's (a phone number
    has two channels, each with its consent and opt-out, date and source);
    the next migration adds the rest."""

    dependencies = [("accounts", "0006_table_preferences")]

    operations = [
        migrations.RenameField("debtoremail", "opted_out_at", "email_opted_out_at"),
        migrations.RenameField("debtorphone", "opted_out_at", "sms_opted_out_at"),
    ]
