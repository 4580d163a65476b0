"""The bulk rows of the demo: one generator per table, all drawing from one
seeded RNG (``Context``), account by account, in the order ``ACCOUNT_STEPS``
gives; ``RowGenerator.chunk`` returns every table's rows for a range of
accounts, ready for COPY or INSERT."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from accounts import models as m
from billing import models as b
from demo.reference import ReferenceData
from demo.rows import accounts, billing, debtors
from demo.rows.context import AccountDraft, Context

# Accounts per chunk. Part of the data, not only of the loading: each chunk
# draws its accounts' statuses and states in one go.
CHUNK_ACCOUNTS = 20_000

# The bulk tables, in load order, with the exact column order their generator
# emits. ``check_columns`` fails loudly if a model drifts from this.
BULK_TABLES: list[tuple[type, list[str]]] = [
    (m.Debtor, debtors.DEBTOR_COLUMNS),
    (m.DebtorEmail, debtors.DEBTOR_EMAIL_COLUMNS),
    (m.DebtorPhone, debtors.DEBTOR_PHONE_COLUMNS),
    (m.Account, accounts.ACCOUNT_COLUMNS),
    (m.AccountAccess, accounts.ACCOUNT_ACCESS_COLUMNS),
    (m.AccountFlag, accounts.ACCOUNT_FLAG_COLUMNS),
    (m.CustomFieldValue, accounts.CUSTOM_FIELD_VALUE_COLUMNS),
    (m.Note, accounts.NOTE_COLUMNS),
    (b.Subscription, billing.SUBSCRIPTION_COLUMNS),
    (b.Claim, billing.CLAIM_COLUMNS),
    (b.PaymentMethod, billing.PAYMENT_METHOD_COLUMNS),
    (b.Payment, billing.PAYMENT_COLUMNS),
    (b.LedgerEntry, billing.LEDGER_ENTRY_COLUMNS),
]

# The generators of one account, in the order they draw from the RNG (part
# of the data: reordering them changes every row). Claims write their ledger
# entries and payments; the account row comes after them, from their balance.
ACCOUNT_STEPS: list[Callable[[Context, AccountDraft], None]] = [
    debtors.debtors,
    debtors.debtor_emails,
    debtors.debtor_phones,
    accounts.new_account,
    billing.subscriptions,
    billing.payment_methods,
    billing.claims,
    accounts.accounts,
    accounts.account_access,
    accounts.account_flags,
    accounts.custom_field_values,
    accounts.notes,
]


def check_columns() -> None:
    for model, columns in BULK_TABLES:
        actual = [f.column for f in model._meta.concrete_fields]
        if actual != columns:
            raise RuntimeError(
                f"seed_demo is out of date for {model._meta.label}: model columns {actual}"
            )


class RowGenerator:
    """Yields, chunk by chunk, the rows of every bulk table for N accounts."""

    def __init__(self, ref: ReferenceData, *, seed: int, anchor: dt.datetime):
        self.context = Context(ref, [model for model, _ in BULK_TABLES], seed=seed, anchor=anchor)

    def chunk(self, first_index: int, count: int) -> dict[type, list[tuple]]:
        """Rows for accounts ``first_index .. first_index + count - 1``."""
        ctx = self.context
        rows = ctx.new_chunk()
        statuses = ctx.rng.choices(ctx.status_ids, ctx.status_weights, k=count)
        states = ctx.rng.choices(ctx.state_codes, ctx.state_weights, k=count)
        for offset in range(count):
            draft = AccountDraft(first_index + offset, states[offset], statuses[offset])
            for step in ACCOUNT_STEPS:
                step(ctx, draft)
        return rows

    def chunks(self, n_accounts: int) -> Iterator[tuple[int, dict[type, list[tuple]]]]:
        """Every chunk of ``n_accounts`` accounts, generated when asked for:
        (accounts generated so far, the chunk's rows)."""
        for start in range(0, n_accounts, CHUNK_ACCOUNTS):
            count = min(CHUNK_ACCOUNTS, n_accounts - start)
            yield start + count, self.chunk(start, count)
