"""Add Fees (seed 001): what fee each account gets, by the mode chosen, and
the posting of fees on new invoices.

The modes, in the seed's words:

- **Billing Accounts** (the account as a whole): **Fixed Amount** per
  customer; **% of Balance**, the balance as of the **As of Date**, computed
  from the ledger (it may differ from the current balance).
- **Service Accounts** (each invoice with a balance): **Fixed Amount Per
  Customer**, to each customer with an invoice with a balance; **% of
  Invoice Balance** (the balance, not the amount charged); **% of Initial
  Service Discount** of each subscription that has an invoice with a
  balance, once per subscription however many such invoices it has; **% of
  Invoice Total** (the amount charged, not the balance) of the invoices
  with balances.

Rounding: a percentage is applied to the account's whole basis (the sum of
its invoices' balances, say) and the fee rounded once, to the cent, half
up. A fee that rounds to zero is skipped; one above the company's maximum
fee (``BillingPolicy.max_fee``) is refused for that account, with the
reason. Fees go on new invoices, never onto existing ones."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import models, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Account
from billing.models import Claim, LedgerEntry, ServiceType, Subscription
from billing.services import NewEntry, post_ledger_entries, to_money

HUNDRED = Decimal(100)


class ApplyTo(models.TextChoices):
    BILLING = "billing", "Billing Accounts"
    SERVICE = "service", "Service Accounts"


class FeeMode(models.TextChoices):
    FIXED = "fixed", "Fixed Amount"
    PERCENT_OF_BALANCE = "balance", "% of Balance"
    FIXED_PER_CUSTOMER = "fixed_per_customer", "Fixed Amount Per Customer"
    PERCENT_OF_INVOICE_BALANCE = "invoice_balance", "% of Invoice Balance"
    PERCENT_OF_INITIAL_DISCOUNT = "initial_discount", "% of Initial Service Discount"
    PERCENT_OF_INVOICE_TOTAL = "invoice_total", "% of Invoice Total"


MODES_OF = {
    ApplyTo.BILLING: (FeeMode.FIXED, FeeMode.PERCENT_OF_BALANCE),
    ApplyTo.SERVICE: (
        FeeMode.FIXED_PER_CUSTOMER,
        FeeMode.PERCENT_OF_INVOICE_BALANCE,
        FeeMode.PERCENT_OF_INITIAL_DISCOUNT,
        FeeMode.PERCENT_OF_INVOICE_TOTAL,
    ),
}
FIXED_MODES = (FeeMode.FIXED, FeeMode.FIXED_PER_CUSTOMER)

NO_BALANCE = "No balance to charge a fee on"
NO_INVOICE = "No invoice with a balance"
NO_SUBSCRIPTION = "No subscription with an invoice with a balance"
ROUNDS_TO_ZERO = "The fee rounds to $0.00"
FEE_DESCRIPTION = "Add Fees"


@dataclass(frozen=True)
class Fee:
    """One account's fee: ``basis`` is the figure the fee is computed from
    (a balance, a sum of invoices; the amount itself for a fixed fee), kept
    so that a confirmation can tell whether the figures changed since the
    fees were verified. ``reason`` says why there is no fee."""

    basis: Decimal | None
    amount: Decimal
    reason: str = ""


def _end_of(day: dt.date) -> dt.datetime:
    """The first moment after ``day``, in the site's time zone."""
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))


def balances_as_of(account_ids: Sequence[int], as_of: dt.date | None) -> dict[int, Decimal]:
    """Each account's balance at the end of ``as_of`` from its ledger (the
    sum of its entries posted by then); the current balance when no date is
    given. Accounts with no entry by then owe 0."""
    if as_of is None:
        return dict(
            Account.objects.filter(pk__any=list(account_ids)).values_list("pk", "current_balance")
        )
    found = dict(
        LedgerEntry.objects.filter(account_id__any=list(account_ids), posted_at__lt=_end_of(as_of))
        .values_list("account_id")
        .annotate(total=Sum("amount"))
        .values_list("account_id", "total")
    )
    return {pk: to_money(found.get(pk) or 0) for pk in account_ids}


def _invoices_with_balances(account_ids: Sequence[int]):
    return Claim.objects.filter(account_id__any=list(account_ids), balance__gt=0)


def _bases(account_ids: Sequence[int], mode: str, as_of) -> tuple[dict[int, Decimal], str]:
    """(basis by account, the reason an account without one gets)."""
    if mode == FeeMode.PERCENT_OF_BALANCE:
        balances = balances_as_of(account_ids, as_of)
        return {pk: b for pk, b in balances.items() if b > 0}, NO_BALANCE
    if mode in (FeeMode.FIXED_PER_CUSTOMER, FeeMode.PERCENT_OF_INVOICE_BALANCE):
        column = "balance"
    elif mode == FeeMode.PERCENT_OF_INVOICE_TOTAL:
        column = "original_amount"
    elif mode == FeeMode.PERCENT_OF_INITIAL_DISCOUNT:
        # Once per subscription that has an invoice with a balance.
        subscriptions = Subscription.objects.filter(
            pk__in=_invoices_with_balances(account_ids)
            .filter(subscription__isnull=False)
            .values("subscription_id")
        )
        bases: dict[int, Decimal] = defaultdict(Decimal)
        for account_id, discount in subscriptions.values_list(
            "account_id", "initial_service_discount"
        ):
            bases[account_id] += discount
        return dict(bases), NO_SUBSCRIPTION
    else:
        raise ValueError(f"Unknown fee mode {mode!r}.")
    bases = dict(
        _invoices_with_balances(account_ids)
        .values_list("account_id")
        .annotate(total=Sum(column))
        .values_list("account_id", "total")
    )
    return bases, NO_INVOICE


def fees_for(
    account_ids: Sequence[int],
    *,
    mode: str,
    value: Decimal,
    as_of: dt.date | None = None,
    max_fee: Decimal | None = None,
) -> dict[int, Fee]:
    """Each account's fee by ``mode``: ``value`` is the fixed amount, or
    the percentage (0 to 100) of the mode's basis. A handful of queries for
    any number of accounts."""
    value = Decimal(value)
    if mode == FeeMode.FIXED:
        bases, missing = dict.fromkeys(account_ids, value), ""
    else:
        bases, missing = _bases(account_ids, mode, as_of)
    fees = {}
    for pk in account_ids:
        basis = bases.get(pk)
        if basis is None:
            fees[pk] = Fee(None, Decimal("0.00"), missing)
            continue
        amount = to_money(value if mode in FIXED_MODES else basis * value / HUNDRED)
        if amount <= 0:
            fees[pk] = Fee(basis, Decimal("0.00"), ROUNDS_TO_ZERO)
        elif max_fee is not None and amount > max_fee:
            fees[pk] = Fee(
                basis,
                amount,
                f"${amount:,.2f} is above the company's maximum fee of ${max_fee:,.2f}",
            )
        else:
            fees[pk] = Fee(basis, amount)
    return fees


def add_fees(
    *,
    actor,
    fees: dict[int, Decimal],
    service_type: ServiceType,
    reference: str,
    bulk_operation=None,
    description: str = FEE_DESCRIPTION,
) -> list[int]:
    """Post each account's fee on a new invoice (claim) of ``service_type``
    named ``reference``: the invoices in one INSERT, their fee entries and
    the balances through ``post_ledger_entries`` (set-based, audited), in one
    transaction. Returns the new invoices' ids."""
    amounts = {pk: to_money(amount) for pk, amount in fees.items() if to_money(amount) > 0}
    if not amounts:
        return []
    today = timezone.localdate()
    with transaction.atomic():
        claims = Claim.objects.bulk_create(
            [
                Claim(
                    account_id=pk,
                    service_type=service_type,
                    reference=reference,
                    original_amount=amount,
                    balance=Decimal("0.00"),  # the fee entry moves it
                    due_date=today,
                )
                for pk, amount in amounts.items()
            ]
        )
        claim_of = {claim.account_id: claim.pk for claim in claims}
        if not all(claim_of.values()):  # a backend that returns no ids
            claim_of = dict(
                Claim.objects.filter(
                    Q(account_id__any=list(amounts)) & Q(reference=reference)
                ).values_list("account_id", "pk")
            )
        post_ledger_entries(
            entries=[
                NewEntry(pk, LedgerEntry.Kind.FEE, amount, claim_of[pk], description)
                for pk, amount in amounts.items()
            ],
            actor=actor,
            context=LedgerEntry.Context.BULK if bulk_operation else LedgerEntry.Context.MANUAL,
            bulk_operation=bulk_operation,
        )
    return list(claim_of.values())
