from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        # The bulk actions this app contributes register themselves on import.
        from accounts import actions  # noqa: F401
        from accounts.selectable import ACCOUNTS
        from bulkops.registry import (
            register_audit_company,
            register_audit_reference,
            register_selectable,
        )

        register_selectable(ACCOUNTS)

        # Audited changes that hold ids: shown by name in the audit log.
        register_audit_reference("status", "accounts.AccountStatus")
        register_audit_reference("assigned_to", "accounts.User")
        # Events about a company belong to it.
        register_audit_company("accounts.Company", "pk")
