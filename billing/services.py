"""Writes that move money. Each runs in one transaction that also updates the
account's derived fields (current balance, last payment, declined count) and
records the audit event, so the ledger and the account never disagree."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account
from billing.models import Claim, LedgerEntry, Payment, PaymentMethod
from bulkops.services import record_audit_event, record_field_change

CENT = Decimal("0.01")

# Which sign each kind of entry may carry (amount is what it does to the debt).
_POSITIVE = {LedgerEntry.Kind.CHARGE, LedgerEntry.Kind.FEE}
_NEGATIVE = {LedgerEntry.Kind.PAYMENT, LedgerEntry.Kind.CREDIT, LedgerEntry.Kind.WRITE_OFF}


def to_money(value) -> Decimal:
    """Quantise to cents. Refuses floats: money never passes through binary."""
    if isinstance(value, float):
        raise TypeError("money must be a Decimal, int or str, never a float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def post_ledger_entry(
    *,
    account: Account,
    kind: str,
    amount,
    claim: Claim | None = None,
    context: str = LedgerEntry.Context.MANUAL,
    description: str = "",
    payment: Payment | None = None,
    payment_method: PaymentMethod | None = None,
    actor=None,
    bulk_operation=None,
) -> LedgerEntry:
    """Post one journal line and move the account's (and claim's) balance by
    its amount. Refuses a zero amount, a sign that does not fit the kind and a
    claim of another account."""
    amount = to_money(amount)
    if amount == 0:
        raise ValidationError("A ledger entry needs a non-zero amount.")
    if kind in _POSITIVE and amount < 0:
        raise ValidationError(f"A {kind} must increase the balance.")
    if kind in _NEGATIVE and amount > 0:
        raise ValidationError(f"A {kind} must decrease the balance.")
    if claim is not None and claim.account_id != account.pk:
        raise ValidationError("The claim belongs to another account.")

    with transaction.atomic():
        # Lock the account so concurrent postings serialise on it.
        locked = (
            Account.objects.select_for_update().only("pk", "current_balance").get(pk=account.pk)
        )
        entry = LedgerEntry.objects.create(
            account=locked,
            claim=claim,
            kind=kind,
            amount=amount,
            context=context,
            description=description,
            payment=payment,
            payment_method=payment_method,
            created_by=actor if actor is not None and actor.is_authenticated else None,
            bulk_operation=bulk_operation,
        )
        # New balances are computed here, in Decimal, from the locked rows:
        # an F() expression would be evaluated in floating point on SQLite.
        before = locked.current_balance
        Account.objects.filter(pk=locked.pk).update(current_balance=before + amount)
        if claim is not None:
            locked_claim = Claim.objects.select_for_update().only("pk", "balance").get(pk=claim.pk)
            Claim.objects.filter(pk=claim.pk).update(balance=locked_claim.balance + amount)
        record_audit_event(
            actor=actor,
            action=f"ledger.{kind}",
            obj=locked,
            changes={"current_balance": (before, before + amount)},
            bulk_operation=bulk_operation,
        )
    account.refresh_from_db(fields=["current_balance"])
    return entry


def record_payment(
    *,
    account: Account,
    amount,
    claim: Claim | None = None,
    payment_method: PaymentMethod | None = None,
    credited_to=None,
    received_at=None,
    actor=None,
) -> Payment:
    """Record a payment as pending: it does not move the balance until posted."""
    amount = to_money(amount)
    if amount <= 0:
        raise ValidationError("A payment amount must be positive.")
    if claim is not None and claim.account_id != account.pk:
        raise ValidationError("The claim belongs to another account.")
    with transaction.atomic():
        payment = Payment.objects.create(
            account=account,
            claim=claim,
            amount=amount,
            payment_method=payment_method,
            credited_to=credited_to if credited_to is not None else account.assigned_to,
            received_at=received_at or timezone.now(),
        )
        record_audit_event(
            actor=actor,
            action="payment.recorded",
            obj=payment,
            changes={"status": (None, payment.status), "amount": (None, amount)},
        )
    return payment


def post_payment(*, payment: Payment, actor=None) -> LedgerEntry:
    """Post a pending payment: a negative ledger entry, and the account's last
    payment becomes this one when it is the most recent posted."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != Payment.Status.PENDING:
            raise ValidationError(
                f"Only a pending payment can be posted (this one is {payment.status})."
            )
        payment.status = Payment.Status.POSTED
        payment.posted_at = timezone.now()
        payment.save(update_fields=["status", "posted_at"])
        entry = post_ledger_entry(
            account=payment.account,
            kind=LedgerEntry.Kind.PAYMENT,
            amount=-payment.amount,
            claim=payment.claim,
            payment=payment,
            payment_method=payment.payment_method,
            context=LedgerEntry.Context.SYSTEM,
            description="Payment",
            actor=actor,
        )
        # The last payment is the posted one received last (ties: the newer row).
        newer_exists = (
            Payment.objects.filter(account_id=payment.account_id, status=Payment.Status.POSTED)
            .filter(
                Q(received_at__gt=payment.received_at)
                | Q(received_at=payment.received_at, pk__gt=payment.pk)
            )
            .exists()
        )
        if not newer_exists:
            Account.objects.filter(pk=payment.account_id).update(
                last_payment_amount=payment.amount,
                last_payment_date=payment.received_at.astimezone(dt.UTC).date(),
            )
        record_audit_event(
            actor=actor,
            action="payment.posted",
            obj=payment,
            changes={"status": (Payment.Status.PENDING, Payment.Status.POSTED)},
        )
    return entry


def decline_payment(*, payment: Payment, reason: str, actor=None) -> Payment:
    """Decline a pending payment and count it on the account."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != Payment.Status.PENDING:
            raise ValidationError(
                f"Only a pending payment can be declined (this one is {payment.status})."
            )
        payment.status = Payment.Status.DECLINED
        payment.decline_reason = reason
        payment.save(update_fields=["status", "decline_reason"])
        Account.objects.filter(pk=payment.account_id).update(declined_count=F("declined_count") + 1)
        record_audit_event(
            actor=actor,
            action="payment.declined",
            obj=payment,
            changes={"status": (Payment.Status.PENDING, Payment.Status.DECLINED)},
        )
    return payment


def credit_payments(
    *, actor, account_ids: list[int], collector, only_pending: bool = False, bulk_operation=None
) -> int:
    """Credit the payments of these accounts to ``collector``: every payment
    (or only the pending ones) not already credited to them, in one audited
    statement. Returns how many payments changed."""
    payments = Payment.objects.filter(account_id__any=list(account_ids)).exclude(
        credited_to=collector
    )
    if only_pending:
        payments = payments.filter(status=Payment.Status.PENDING)
    with transaction.atomic():
        record_field_change(
            actor=actor,
            action="payment.credited",
            queryset=payments,
            field="credited_to",
            new_value=collector.pk,
            bulk_operation=bulk_operation,
        )
        return payments.update(credited_to=collector)
