"""The money under each account, one generator per table: ``billing_subscription``,
``billing_paymentmethod``, ``billing_claim``, ``billing_payment`` and
``billing_ledgerentry``. Amounts are integer cents while simulated, formatted
once (``money``); the account's derived fields (balance, last payment,
declined count) come from the same simulation, so ``check_balances`` is clean."""

from __future__ import annotations

import datetime as dt

from billing.models import Claim, LedgerEntry, Payment, PaymentMethod, Subscription
from demo.rows.context import AccountDraft, Context, money
from demo.words import SERVICES

SUBSCRIPTION_COLUMNS = [
    "id",
    "account_id",
    "service_name",
    "initial_service_discount",
    "status",
    "started_on",
    "frozen_at",
]
CLAIM_COLUMNS = [
    "id",
    "account_id",
    "subscription_id",
    "service_type_id",
    "reference",
    "original_amount",
    "balance",
    "due_date",
    "status",
    "created_at",
]
PAYMENT_METHOD_COLUMNS = [
    "id",
    "account_id",
    "kind",
    "label",
    "mandate_reference",
    "is_active",
    "disabled_until",
]
PAYMENT_COLUMNS = [
    "id",
    "account_id",
    "claim_id",
    "amount",
    "status",
    "payment_method_id",
    "credited_to_id",
    "received_at",
    "posted_at",
    "decline_reason",
]
LEDGER_ENTRY_COLUMNS = [
    "id",
    "account_id",
    "claim_id",
    "kind",
    "amount",
    "payment_method_id",
    "payment_id",
    "context",
    "bulk_operation_id",
    "description",
    "posted_at",
    "created_by_id",
    "reverses_id",
]


def subscriptions(ctx: Context, draft: AccountDraft) -> None:
    """A quarter of the accounts have a service subscription."""
    if ctx.rnd() < 0.25:
        draft.subscription_id = ctx.new_id(Subscription)
        ctx.rows[Subscription].append(
            (
                draft.subscription_id,
                draft.account_id,
                ctx.choice(SERVICES),
                money(ctx.randrange(0, 5000)),
                "frozen" if ctx.status_category[draft.status] == "frozen" else "active",
                (draft.created_at - dt.timedelta(days=ctx.randrange(30, 400))).date(),
                None,
            )
        )


def payment_methods(ctx: Context, draft: AccountDraft) -> None:
    """Just over half the accounts have a card or a bank mandate."""
    if ctx.rnd() < 0.55:
        draft.method_id = ctx.new_id(PaymentMethod)
        is_card = ctx.rnd() < 0.7
        ctx.rows[PaymentMethod].append(
            (
                draft.method_id,
                draft.account_id,
                "card" if is_card else "bank",
                f"{'Visa' if is_card else 'Checking'} ending {ctx.randrange(10000):04d}",
                f"MND-{draft.account_id:09d}",
                True,
                None,
            )
        )


def claims(ctx: Context, draft: AccountDraft) -> None:
    """One to three claims a month apart, each charged, sometimes with a late
    fee, then paid down by its payments; the account's balance is their sum."""
    rnd = ctx.rnd
    n_claims = 1 if rnd() < 0.65 else (2 if rnd() < 0.85 else 3)
    for c in range(n_claims):
        claim_id = ctx.new_id(Claim)
        original = int(ctx.rng.lognormvariate(10.5, 0.9)) % 900_000 + 2_500
        claim_balance = original
        claim_at = draft.created_at + dt.timedelta(days=c * 30)
        ledger_entries(ctx, draft, claim_id, "charge", original, "Original balance", claim_at)
        if rnd() < 0.1:
            fee = ctx.choice((2500, 3500))
            claim_balance += fee
            fee_at = claim_at + dt.timedelta(days=35)
            ledger_entries(ctx, draft, claim_id, "fee", fee, "Late fee", fee_at)
        claim_balance = payments(ctx, draft, claim_id, claim_at, claim_balance)
        draft.balance += claim_balance
        ctx.rows[Claim].append(
            (
                claim_id,
                draft.account_id,
                draft.subscription_id,
                None,  # a service type: demo invoices are the placements' own
                f"INV-{draft.account_id:08d}-{c + 1}",
                money(original),
                money(claim_balance),
                (claim_at + dt.timedelta(days=30)).date(),
                "paid" if claim_balance == 0 else "open",
                claim_at,
            )
        )


def payments(
    ctx: Context, draft: AccountDraft, claim_id: int, claim_at: dt.datetime, claim_balance: int
) -> int:
    """Up to three payments on a claim, never past the anchor or the balance;
    most are posted (and journalled), some declined, a few pending. Returns
    the claim's balance after them."""
    rnd, randrange = ctx.rnd, ctx.randrange
    r = rnd()
    n_payments = 0 if r < 0.45 else (1 if r < 0.75 else (2 if r < 0.9 else 3))
    pay_at = claim_at
    for _ in range(n_payments):
        if claim_balance <= 0:
            break
        pay_at = pay_at + dt.timedelta(days=randrange(10, 60), seconds=randrange(86400))
        if pay_at > ctx.anchor:
            break
        if rnd() < 0.15:
            amount = claim_balance  # paid in full
        else:
            amount = max(500, claim_balance * randrange(5, 40) // 100)
            amount = min(amount, claim_balance)
        s = rnd()
        pstatus = "posted" if s < 0.8 else ("declined" if s < 0.92 else "pending")
        payment_id = ctx.new_id(Payment)
        ctx.rows[Payment].append(
            (
                payment_id,
                draft.account_id,
                claim_id,
                money(amount),
                pstatus,
                draft.method_id,
                None,
                pay_at,
                pay_at if pstatus == "posted" else None,
                "Insufficient funds" if pstatus == "declined" else "",
            )
        )
        if pstatus == "posted":
            claim_balance -= amount
            ledger_entries(
                ctx, draft, claim_id, "payment", -amount, "Payment", pay_at, payment_id=payment_id
            )
            if draft.last_paid_at is None or pay_at > draft.last_paid_at:
                draft.last_paid_at, draft.last_paid_cents = pay_at, amount
        elif pstatus == "declined":
            draft.declined += 1
    return claim_balance


def ledger_entries(
    ctx: Context,
    draft: AccountDraft,
    claim_id: int,
    kind: str,
    cents: int,
    description: str,
    posted_at: dt.datetime,
    *,
    payment_id: int | None = None,
) -> None:
    """One journal line of a claim; a payment's carries its method and payment."""
    ctx.rows[LedgerEntry].append(
        (
            ctx.new_id(LedgerEntry),
            draft.account_id,
            claim_id,
            kind,
            money(cents),
            draft.method_id if payment_id is not None else None,
            payment_id,
            "system",
            None,
            description,
            posted_at,
            None,
            None,  # reverses: no demo line is a reversal
        )
    )
