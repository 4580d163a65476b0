from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        from accounts.columns import register_columns, register_grid_columns
        from accounts.filters import register_filters
        from accounts.models import CONFIGURATION_UNIQUE
        from accounts.sections import (
            AccountAction,
            AccountSection,
            register_action,
            register_section,
        )
        from billing import diary, journal, selectors  # noqa: F401  (diary registers its sources)
        from billing.actions import add_fees, credit_payments, freeze, undo, write_off  # noqa: F401
        from billing.columns import CLAIMS_COLUMNS
        from billing.grid import BALANCE_AS_OF_COLUMN, BALANCE_AS_OF_RANGE, account_filters
        from billing.models import CancellationReason, ServiceType
        from billing.selectable import FROZEN
        from bulkops.registry import (
            register_audit_company,
            register_audit_reference,
            register_selectable,
        )

        # Cancellation reasons and service types are configuration: the defaults plus a company's own.
        CONFIGURATION_UNIQUE[CancellationReason] = (("name",),)
        CONFIGURATION_UNIQUE[ServiceType] = (("name",),)
        # Bulk Freeze Rollback's list of frozen customers.
        register_selectable(FROZEN)

        # The collector a payment is credited to, by name in the audit log.
        register_audit_reference("credited_to", "accounts.User")
        # Money rows' events belong to their account's company.
        for model in (
            "Payment", "Claim", "LedgerEntry", "Subscription", "PaymentMethod", "AccountFreeze",
        ):  # fmt: skip
            register_audit_company(f"billing.{model}", "account__company")

        # Claims and their balance, exportable beside the account's own columns.
        register_columns(*CLAIMS_COLUMNS)
        # The grid's As of Date and Balance as of (filters and a column).
        register_filters(account_filters(), ranges=[BALANCE_AS_OF_RANGE])
        register_grid_columns(BALANCE_AS_OF_COLUMN)

        register_section(
            AccountSection(
                key="claims",
                title="Claims",
                template="billing/_account_claims.html",
                context=selectors.account_claims,
                permission="billing.view_claim",
                order=10,
                width=8,
            )
        )
        register_section(
            AccountSection(
                key="journal",
                title="Journal",
                template="billing/_account_journal.html",
                context=journal.section_context,
                permission="billing.view_ledgerentry",
                order=20,
                tab="journal",
                takes_params=True,
            )
        )
        register_section(
            AccountSection(
                key="ledger_summary",
                title="Ledger summary",
                template="billing/_account_ledger_summary.html",
                context=selectors.account_ledger_summary,
                permission="billing.view_ledgerentry",
                order=11,
                width=4,
            )
        )
        register_section(
            AccountSection(
                key="payment_agreements",
                title="Recent payment agreements",
                template="billing/_account_promises.html",
                context=selectors.account_promises,
                permission="billing.view_promisetopay",
                order=15,
            )
        )
        register_action(
            AccountAction(
                key="create_promise",
                label="Create promise to pay",
                url_name="billing:promise-create",
                permission="billing.add_promisetopay",
                order=41,
            )
        )
