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
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Account
from billing.models import (
    Claim,
    FeeVerification,
    FeeVerificationRow,
    LedgerEntry,
    ServiceType,
    Subscription,
)
from billing.services import NewEntry, actor_id, lock_accounts, post_ledger_entries, to_money
from bulkops.registry import Outcomes
from bulkops.services import audit_insert_sql

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


def end_of(day: dt.date) -> dt.datetime:
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
        LedgerEntry.objects.filter(account_id__any=list(account_ids), posted_at__lt=end_of(as_of))
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
    context = LedgerEntry.Context.BULK if bulk_operation else LedgerEntry.Context.MANUAL
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _add_fees_in_sql(
                amounts=amounts,
                actor=actor,
                service_type=service_type,
                reference=reference,
                due_date=today,
                description=description,
                context=context,
                bulk_operation=bulk_operation,
            )
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
            context=context,
            bulk_operation=bulk_operation,
        )
    return list(claim_of.values())


# The fees of a chunk on PostgreSQL, in one statement once the accounts are
# locked: the new invoices (their balance the fee, as the fee entry leaves
# it), a fee entry on each, the accounts' balances moved and an audit event
# per account (its balance before and after), the same rows as the portable
# path above with none of them travelling to Python. Returns the invoices'
# ids.
_ADD_FEES_SQL = """
WITH fees AS (
    SELECT * FROM unnest(%s::bigint[], %s::numeric[]) AS f(account_id, amount)
),
invoices AS (
    INSERT INTO {claim}
        (account_id, subscription_id, service_type_id, reference, original_amount, balance,
         due_date, status, created_at)
    SELECT account_id, NULL, %s, %s, amount, amount, %s, %s, %s FROM fees
    RETURNING id, account_id, balance
),
entries AS (
    INSERT INTO {entry}
        (kind, amount, context, description, posted_at, account_id, claim_id, created_by_id,
         bulk_operation_id)
    SELECT %s, balance, %s, %s, %s, account_id, id, %s, %s FROM invoices
    RETURNING 1
),
account_events AS (
    SELECT a.id AS object_id, a.company_id,
           jsonb_build_object('current_balance', jsonb_build_array(
               a.current_balance::text, (a.current_balance + f.amount)::text)) AS changes
    FROM {account} a JOIN fees f ON f.account_id = a.id
),
account_audit AS ({account_audit} RETURNING 1),
moved AS (
    UPDATE {account} a SET current_balance = a.current_balance + f.amount
    FROM fees f WHERE a.id = f.account_id
    RETURNING 1
)
SELECT id FROM invoices ORDER BY id
"""


def _add_fees_in_sql(
    *, amounts, actor, service_type, reference, due_date, description, context, bulk_operation
) -> list[int]:
    account_ids = sorted(amounts)
    if missing := set(account_ids) - set(lock_accounts(account_ids)):
        raise ValidationError(f"Account {min(missing)} does not exist.")
    posted_at = timezone.now()
    account_audit, account_audit_params = audit_insert_sql(
        actor=actor,
        action=f"ledger.{LedgerEntry.Kind.FEE}",
        model=Account,
        source="account_events",
        bulk_operation=bulk_operation,
        occurred_at=posted_at,
    )
    quote = connection.ops.quote_name
    sql = _ADD_FEES_SQL.format(
        account=quote(Account._meta.db_table),
        claim=quote(Claim._meta.db_table),
        entry=quote(LedgerEntry._meta.db_table),
        account_audit=account_audit,
    )
    params = [
        account_ids,
        [amounts[pk] for pk in account_ids],
        service_type.pk,
        reference,
        due_date,
        Claim.Status.OPEN,
        posted_at,
        LedgerEntry.Kind.FEE,
        context,
        description,
        posted_at,
        actor_id(actor),
        bulk_operation.pk if bulk_operation else None,
        *account_audit_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [pk for (pk,) in cursor.fetchall()]


# --- the verification step ------------------------------------------------------------------

VERIFY_BATCH = 5000
VERIFICATION_MAX_AGE = dt.timedelta(hours=1)  # the engine's preview lasts as long
FIGURES_CHANGED = "Its figures changed since the fees were verified"


def fingerprint(user, parameters: dict, selection) -> str:
    """What a verification is found again by at confirmation: who, which
    fee, which selection."""
    payload = json.dumps(
        {"user": user.pk, "parameters": parameters, "selection": selection.to_dict()},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


IN_SQL = (FeeMode.FIXED, FeeMode.PERCENT_OF_BALANCE)


def verify_fees(*, user, accounts, parameters: dict, key: str, max_fee=None):
    """Compute and store every selected account's fee (``accounts`` a
    queryset of them, any number): the verification Add Fees shows and
    confirms. On PostgreSQL the account-wide fees are computed and stored
    in one ``INSERT ... SELECT`` (the same rows as the Python path, which a
    test compares); the others, and SQLite, in batches."""
    mode, value = parameters["mode"], Decimal(parameters["value"])
    as_of = dt.date.fromisoformat(parameters["as_of"]) if parameters.get("as_of") else None
    with transaction.atomic():
        verification = FeeVerification.objects.create(owner=user, fingerprint=key)
        if connection.vendor == "postgresql" and mode in IN_SQL:
            _verify_in_sql(verification, accounts, mode, value, as_of, max_fee)
            verification.refresh_from_db()
            return verification
        account_ids = (
            accounts.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=VERIFY_BATCH)
        )
        seen = with_fee = 0
        total = Decimal("0.00")
        batch: list[int] = []

        def flush():
            nonlocal seen, with_fee, total
            computed = fees_for(batch, mode=mode, value=value, as_of=as_of, max_fee=max_fee)
            rows = []
            for pk in batch:
                fee = computed[pk]
                rows.append(
                    FeeVerificationRow(
                        verification=verification,
                        account_id=pk,
                        amount=fee.amount if not fee.reason else Decimal("0.00"),
                        basis=fee.basis,
                        reason=fee.reason,
                    )
                )
                if not fee.reason:
                    with_fee += 1
                    total += fee.amount
            FeeVerificationRow.objects.bulk_create(rows)
            seen += len(batch)

        for pk in account_ids:
            batch.append(pk)
            if len(batch) == VERIFY_BATCH:
                flush()
                batch = []
        if batch:
            flush()
        FeeVerification.objects.filter(pk=verification.pk).update(
            accounts=seen, with_fee=with_fee, total=total
        )
    verification.refresh_from_db()
    return verification


def _verify_in_sql(verification, accounts, mode, value, as_of, max_fee) -> None:
    """``verify_fees``'s rows for the account-wide fees in one statement,
    and the verification's totals in another. PostgreSQL's ``round`` rounds
    half away from zero: half up, for the positive amounts that get a fee."""
    selected_sql, selected_params = accounts.order_by().values("pk").query.sql_with_params()
    basis_params: list = []
    join_sql, join_params = "", []
    if mode == FeeMode.FIXED:
        basis_sql, basis_params = "%s::numeric", [value]
    elif as_of is None:
        basis_sql = "NULLIF(GREATEST(a.current_balance, 0), 0)"
    else:
        basis_sql = "NULLIF(GREATEST(coalesce(l.total, 0), 0), 0)"
        join_sql = (
            "LEFT JOIN (SELECT account_id, sum(amount) AS total FROM billing_ledgerentry"
            " WHERE posted_at < %s AND account_id IN (SELECT pk FROM selected)"
            " GROUP BY account_id) l ON l.account_id = a.id"
        )
        join_params = [end_of(as_of)]
    amount_sql = "%s::numeric" if mode == FeeMode.FIXED else "round(f.basis * %s / 100, 2)"
    money = "'$' || to_char({}, 'FM999,999,999,990.00')"
    sql = f"""
        WITH selected AS ({selected_sql}),
        based AS (
            SELECT a.id AS account_id, {basis_sql} AS basis
            FROM accounts_account a {join_sql}
            WHERE a.id IN (SELECT pk FROM selected)
        ),
        fees AS (SELECT f.account_id, f.basis, {amount_sql} AS amount FROM based f)
        INSERT INTO {FeeVerificationRow._meta.db_table}
            (verification_id, account_id, basis, amount, reason)
        SELECT %s, account_id, basis,
               CASE WHEN basis IS NULL OR amount <= 0 OR amount > %s THEN 0 ELSE amount END,
               CASE WHEN basis IS NULL THEN %s
                    WHEN amount <= 0 THEN %s
                    WHEN amount > %s THEN {money.format("amount")}
                         || ' is above the company''s maximum fee of '
                         || {money.format("%s::numeric")}
                    ELSE '' END
        FROM fees
    """
    cap = max_fee if max_fee is not None else Decimal("1e12")
    params = [
        *selected_params, *basis_params, *join_params,
        value, verification.pk, cap, NO_BALANCE, ROUNDS_TO_ZERO, cap, max_fee,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    totals = FeeVerificationRow.objects.filter(verification=verification).aggregate(
        accounts=models.Count("pk"),
        with_fee=models.Count("pk", filter=Q(reason="")),
        total=Sum("amount", filter=Q(reason="")),
    )
    FeeVerification.objects.filter(pk=verification.pk).update(
        accounts=totals["accounts"],
        with_fee=totals["with_fee"],
        total=totals["total"] or Decimal("0.00"),
    )


def verification_for(user, key: str):
    """The user's latest verification with this fingerprint, if recent."""
    return (
        FeeVerification.objects.filter(
            owner=user, fingerprint=key, created_at__gte=timezone.now() - VERIFICATION_MAX_AGE
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def purge_expired_verifications() -> int:
    """Delete the verifications no confirmation can use any more (older than
    ``VERIFICATION_MAX_AGE``: a confirmed Add Fees carries its amounts on its
    own items). Their rows go in one statement per verification (no row
    loaded: nothing refers to them). Returns how many verifications."""
    expired = list(
        FeeVerification.objects.filter(
            created_at__lt=timezone.now() - VERIFICATION_MAX_AGE
        ).values_list("pk", flat=True)
    )
    for pk in expired:
        FeeVerificationRow.objects.filter(verification_id=pk).delete()
    FeeVerification.objects.filter(pk__in=expired).delete()
    return len(expired)


def items_total(operation) -> Decimal:
    """The fees an Add Fees operation's items carry (``amount|basis``), summed."""
    total = Decimal("0.00")
    for argument in operation.items.values_list("argument", flat=True).iterator(chunk_size=10000):
        total += Decimal(argument.partition("|")[0])
    return total


def apply_verified(*, actor, items, parameters: dict, service_type, bulk_operation):
    """Post the verified fees of a chunk (each item's argument is
    ``amount|basis``): an account whose basis is not what was verified is
    skipped; the others get exactly the verified amount."""
    outcomes = Outcomes()
    verified: dict[int, tuple[Decimal, Decimal | None]] = {}
    for target_id, argument in items:
        amount, _, basis = argument.partition("|")
        verified[target_id] = (Decimal(amount), Decimal(basis) if basis else None)
    mode, value = parameters["mode"], Decimal(parameters["value"])
    as_of = dt.date.fromisoformat(parameters["as_of"]) if parameters.get("as_of") else None
    now = fees_for(list(verified), mode=mode, value=value, as_of=as_of)
    posting = {}
    for pk, (amount, basis) in verified.items():
        if now[pk].basis != basis:
            outcomes.skip([pk], FIGURES_CHANGED)
        else:
            posting[pk] = amount
    add_fees(
        actor=actor,
        fees=posting,
        service_type=service_type,
        reference=f"FEE-{bulk_operation.pk}",
        bulk_operation=bulk_operation,
    )
    return outcomes
