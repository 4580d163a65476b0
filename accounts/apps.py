from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        # The bulk actions this app contributes register themselves on import.
        from accounts import actions, diary, widgets  # noqa: F401  (register)
        from accounts.selectable import ACCOUNTS
        from bulkops.registry import (
            register_audit_company,
            register_audit_reference,
            register_selectable,
        )

        register_selectable(ACCOUNTS)

        # The Actions dropdown's entries of this app (seed 004).
        from accounts.sections import AccountAction, register_action

        for key, label, url_name, order in (
            ("invalidate_phone", "Invalidate phone number", "accounts:phone-invalidate", 30),
            ("validate_phone", "Validate phone number", "accounts:phone-validate", 31),
            ("create_task", "Create task", "accounts:task-create", 40),
        ):
            register_action(
                AccountAction(
                    key=key,
                    label=label,
                    url_name=url_name,
                    permission="accounts.work_account",
                    order=order,
                )
            )

        # Audited changes that hold ids: shown by name in the audit log.
        register_audit_reference("status", "accounts.AccountStatus")
        register_audit_reference("assigned_to", "accounts.User")
        register_audit_reference("created_by", "accounts.User")
        register_audit_reference("file_type", "accounts.FileType")
        # Events about a company belong to it.
        register_audit_company("accounts.Company", "pk")
        for model in ("Task", "Interaction", "Note", "Alert"):
            register_audit_company(f"accounts.{model}", "account__company")
