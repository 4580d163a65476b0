from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        from accounts.sections import AccountSection, register_section
        from billing import selectors

        register_section(
            AccountSection(
                key="claims",
                title="Claims",
                template="billing/_account_claims.html",
                context=selectors.account_claims,
                permission="billing.view_claim",
                order=10,
            )
        )
        register_section(
            AccountSection(
                key="journal",
                title="Journal",
                template="billing/_account_journal.html",
                context=selectors.account_journal,
                permission="billing.view_ledgerentry",
                order=20,
            )
        )
