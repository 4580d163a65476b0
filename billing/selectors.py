"""Reads of the billing app."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Round, TruncDate
from django.urls import reverse

from accounts.models import Account
from accounts.selectors import account_owners_reachable_by, accounts_visible_to
from billing.models import (
    AccountFreeze,
    BillingPolicy,
    Claim,
    LedgerEntry,
    Payment,
    PromiseToPay,
    SubscriptionFreeze,
)

_MONEY = DecimalField(max_digits=14, decimal_places=2)


def _cents(expression):
    """A sum of money rounded to cents in SQL: exact on PostgreSQL already,
    and it removes the floating-point noise of SQLite's SUM."""
    return Coalesce(
        Round(expression, 2, output_field=_MONEY), Value(Decimal("0.00")), output_field=_MONEY
    )


def _same_value(stored, derived) -> bool:
    if isinstance(stored, Decimal) or isinstance(derived, Decimal):
        if stored is None or derived is None:
            return stored is derived
        return Decimal(stored).quantize(Decimal("0.01")) == Decimal(derived).quantize(
            Decimal("0.01")
        )
    return stored == derived


@dataclass(frozen=True)
class BalanceDiscrepancy:
    account_id: int
    file_number: str
    field: str
    stored: object
    derived: object


def ledger_sum(before=None) -> QuerySet:
    """The sum of the outer account's ledger entries (posted before
    ``before``, a moment, when given), as a subquery of an account query."""
    entries = LedgerEntry.objects.filter(account_id=OuterRef("pk"))
    if before is not None:
        entries = entries.filter(posted_at__lt=before)
    return entries.order_by().values("account_id").annotate(total=Sum("amount")).values("total")


def accounts_with_derived_values(queryset: QuerySet[Account] | None = None) -> QuerySet[Account]:
    """Accounts annotated with what the ledger and payments say their derived
    fields should be: ``ledger_balance``, ``derived_last_payment_amount``,
    ``derived_last_payment_date`` and ``derived_declined_count``."""
    queryset = Account.objects.all() if queryset is None else queryset
    last_posted = Payment.objects.filter(
        account_id=OuterRef("pk"), status=Payment.Status.POSTED
    ).order_by("-received_at", "-pk")
    declined = (
        Payment.objects.filter(account_id=OuterRef("pk"), status=Payment.Status.DECLINED)
        .order_by()
        .values("account_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(
        ledger_balance=_cents(Subquery(ledger_sum(), output_field=_MONEY)),
        derived_last_payment_amount=Subquery(last_posted.values("amount")[:1], output_field=_MONEY),
        derived_last_payment_date=Subquery(
            # The stored date is the UTC day (billing.services.post_payment).
            last_posted.annotate(day=TruncDate("received_at", tzinfo=dt.UTC)).values("day")[:1]
        ),
        derived_declined_count=Coalesce(
            Subquery(declined, output_field=IntegerField()), Value(0), output_field=IntegerField()
        ),
    )


def find_balance_discrepancies(
    queryset: QuerySet[Account] | None = None, *, limit: int | None = None
) -> list[BalanceDiscrepancy]:
    """Every (account, field) where a stored derived value disagrees with the
    ledger or payments. The database finds the candidates in one pass; the
    comparison is repeated on the Decimal values so that SQLite's floating
    point sums cannot report a difference of less than a cent."""
    annotated = accounts_with_derived_values(queryset)
    mismatched = annotated.filter(
        ~Q(current_balance=F("ledger_balance"))
        | ~Q(declined_count=F("derived_declined_count"))
        | Q(last_payment_amount__isnull=True, derived_last_payment_amount__isnull=False)
        | Q(last_payment_amount__isnull=False, derived_last_payment_amount__isnull=True)
        | ~Q(last_payment_amount=F("derived_last_payment_amount"))
        | ~Q(last_payment_date=F("derived_last_payment_date"))
        | Q(last_payment_date__isnull=True, derived_last_payment_date__isnull=False)
        | Q(last_payment_date__isnull=False, derived_last_payment_date__isnull=True)
    ).order_by("pk")
    if limit is not None:
        mismatched = mismatched[:limit]
    found: list[BalanceDiscrepancy] = []
    for row in mismatched.values(
        "pk",
        "file_number",
        "current_balance",
        "ledger_balance",
        "last_payment_amount",
        "derived_last_payment_amount",
        "last_payment_date",
        "derived_last_payment_date",
        "declined_count",
        "derived_declined_count",
    ):
        for field, derived_key in (
            ("current_balance", "ledger_balance"),
            ("last_payment_amount", "derived_last_payment_amount"),
            ("last_payment_date", "derived_last_payment_date"),
            ("declined_count", "derived_declined_count"),
        ):
            if not _same_value(row[field], row[derived_key]):
                stored, derived = row[field], row[derived_key]
                if isinstance(stored, Decimal) or isinstance(derived, Decimal):
                    stored, derived = _quantised(stored), _quantised(derived)
                found.append(
                    BalanceDiscrepancy(row["pk"], row["file_number"], field, stored, derived)
                )
    return found


def find_claim_discrepancies(queryset: QuerySet[Claim] | None = None) -> list[tuple]:
    """Claims whose stored balance disagrees with the ledger entries posted to
    them: (id, reference, stored, derived), re-checked on Decimal values."""
    queryset = Claim.objects.all() if queryset is None else queryset
    posted = (
        LedgerEntry.objects.filter(claim_id=OuterRef("pk"))
        .order_by()
        .values("claim_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    candidates = (
        queryset.annotate(ledger_balance=_cents(Subquery(posted, output_field=_MONEY)))
        .exclude(balance=F("ledger_balance"))
        .order_by("pk")
        .values_list("pk", "reference", "balance", "ledger_balance")
    )
    return [
        (pk, reference, _quantised(stored), _quantised(derived))
        for pk, reference, stored, derived in candidates
        if not _same_value(stored, derived)
    ]


def _quantised(value):
    return Decimal(value).quantize(Decimal("0.01")) if value is not None else None


# --- the account page's sections (registered in billing.apps) ---------------------------


def account_claims(user, account: Account) -> dict:
    return {"claims": Claim.objects.filter(account=account).order_by("due_date", "pk")}


def account_ledger_summary(user, account: Account) -> dict:
    """The ledger summary widget: the account's journal totals by kind, and
    the balance they add up to beside the account's current balance (they
    agree unless something moved money around ``billing.services``)."""
    totals = dict(
        LedgerEntry.objects.filter(account=account)
        .order_by()
        .values("kind")
        .annotate(total=_cents(Sum("amount")))
        .values_list("kind", "total")
    )
    kinds = [
        (label, totals.get(kind)) for kind, label in LedgerEntry.Kind.choices if kind in totals
    ]
    from_ledger = sum((t for t in totals.values()), Decimal("0.00"))
    return {
        "ledger_totals": kinds,
        "ledger_balance": from_ledger,
        "reconciles": from_ledger == account.current_balance,
    }


def account_promises(user, account: Account) -> dict:
    """The account's latest promises to pay (Recent payment agreements)."""
    latest = (
        PromiseToPay.objects.filter(account=account)
        .select_related("claim", "payment_method")
        .order_by("-created_at", "-pk")[:10]
    )
    return {"promises": latest}


# --- frozen customers (Bulk Freeze Rollback) -----------------------------------------------


def freezes_visible_to(user) -> QuerySet[AccountFreeze]:
    """The open freezes of the accounts ``user`` may see: the rows of the
    Bulk Freeze Rollback list."""
    return AccountFreeze.objects.filter(rolled_back_at=None, account__in=accounts_visible_to(user))


def freeze_owners_reachable_by(user) -> list[int] | None:
    return account_owners_reachable_by(user)


def describe_freezes(freeze_ids: list[int]) -> dict[int, tuple[str, str]]:
    """{freeze id: (file number, account page URL)} for an operation's outcomes."""
    prefix = reverse("accounts:grid")
    return {
        pk: (file_number, f"{prefix}{account_id}/")
        for pk, account_id, file_number in AccountFreeze.objects.filter(
            pk__in=freeze_ids
        ).values_list("pk", "account_id", "account__file_number")
    }


def frozen_page(freezes: QuerySet[AccountFreeze]) -> list[AccountFreeze]:
    """A page of the frozen list with what it shows: the account and its
    debtor, the reason, who froze it, and the subscriptions that freeze
    froze (two queries whatever the page's size)."""
    rows = list(
        freezes.select_related(
            "account__debtor", "reason", "frozen_status", "status_before", "frozen_by"
        )
    )
    subscriptions: dict[int, list[SubscriptionFreeze]] = {}
    for row in (
        SubscriptionFreeze.objects.filter(freeze__in=[f.pk for f in rows])
        .select_related("subscription")
        .order_by("subscription__service_name", "pk")
    ):
        subscriptions.setdefault(row.freeze_id, []).append(row)
    for freeze in rows:
        freeze.subscription_rows = subscriptions.get(freeze.pk, [])
    return rows


# --- maker-checker ------------------------------------------------------------------------


def approval_limit(company_id: int | None) -> Decimal | None:
    """The total above which the company's bulk write-offs wait for approval."""
    if company_id is None:
        return None
    return (
        BillingPolicy.objects.filter(company_id=company_id)
        .values_list("approval_above", flat=True)
        .first()
    )


def positive_balance_total(account_ids) -> Decimal:
    """What writing these accounts off would clear: their positive balances
    summed (``account_ids`` a list or a subquery of ids)."""
    total = Account.objects.filter(pk__in=account_ids, current_balance__gt=0).aggregate(
        total=Sum("current_balance")
    )["total"]
    return total or Decimal("0.00")


def max_fee(company_id: int | None) -> Decimal | None:
    """The company's maximum fee for any one account (None: no maximum)."""
    if company_id is None:
        return None
    return (
        BillingPolicy.objects.filter(company_id=company_id)
        .values_list("max_fee", flat=True)
        .first()
    )
