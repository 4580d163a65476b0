"""Create the Collector, Supervisor and Admin groups with explicit permissions.

The permission lists are frozen here on purpose: a later change of a role's
rights is a new migration, so every database gets the same history."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

COLLECTOR = [
    "accounts.view_account",
    "accounts.work_account",
    "accounts.view_debtor",
    "accounts.view_debtoremail",
    "accounts.view_debtorphone",
    "accounts.view_note",
    "accounts.add_note",
    "accounts.view_alert",
    "billing.view_claim",
    "billing.view_ledgerentry",
    "billing.view_payment",
    "billing.view_subscription",
    "billing.view_paymentmethod",
]
SUPERVISOR = COLLECTOR + [
    "accounts.change_account",
    "accounts.assign_accounts",
    "accounts.change_account_status",
    "accounts.manage_account_flags",
    "accounts.update_account_stage",
    "accounts.export_accounts",
    "accounts.view_unmasked_data",
    "accounts.add_alert",
    "accounts.change_alert",
    "bulkops.view_bulkoperation",
    "bulkops.add_bulkoperation",
    "bulkops.cancel_bulkoperation",
    "bulkops.view_auditevent",
]
_CONFIG_MODELS = [
    "accounts.accountstatus",
    "accounts.flag",
    "accounts.customfield",
    "accounts.filetype",
    "accounts.notetype",
    "accounts.office",
    "accounts.client",
    "accounts.portfolio",
    "accounts.creditor",
    "accounts.agency",
    "accounts.user",
]
ADMIN = (
    SUPERVISOR
    + [
        f"{model.split('.')[0]}.{verb}_{model.split('.')[1]}"
        for model in _CONFIG_MODELS
        for verb in ("view", "add", "change", "delete")
    ]
    + ["accounts.view_company", "auth.view_group"]
)
ROLES = {"Collector": COLLECTOR, "Supervisor": SUPERVISOR, "Admin": ADMIN}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations ran; make sure
    # they exist now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codes in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for code in codes:
            app_label, codename = code.split(".")
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("billing", "0001_initial"),
        ("bulkops", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
