"""Promises to pay (seed 004's Actions > Create promise to pay) and their
daily settlement.

A promise is kept when the claim's payments posted from the moment it was
made until the end of its due date (in the account's office's zone) add up
to at least its amount; it is broken when that day has passed without. The
settlement is set-based: one statement sums the payments of every pending
promise whose day may be decided, then two updates settle them, with an
audit event each, a Diary event (the audit is the Diary's source), and, by
company setting, a task for the assigned collector."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import accounts_visible_to
from accounts.work import SystemTask, create_system_tasks
from billing.models import BillingPolicy, Claim, LedgerEntry, PaymentMethod, PromiseToPay
from billing.services import to_money
from bulkops.services import record_audit_event, record_audit_events

PERMISSION = "billing.add_promisetopay"
MAX_PROMISE_DAYS = 366
_MONEY = DecimalField(max_digits=14, decimal_places=2)


@transaction.atomic
def create_promise(
    *,
    actor,
    account: Account,
    claim: Claim | None,
    amount,
    payment_method: PaymentMethod | None = None,
    due_date: dt.date | None,
) -> PromiseToPay:
    if not actor.has_perm(PERMISSION):
        raise PermissionDenied("Your role may not record promises to pay.")
    if not accounts_visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("That account is not available to you.")
    if claim is None or claim.account_id != account.pk:
        raise ValidationError({"claim": "Choose one of this account's claims."})
    if payment_method is not None and payment_method.account_id != account.pk:
        raise ValidationError({"payment_method": "Choose one of this account's payment methods."})
    try:
        amount = to_money(amount)
    except (ValueError, ArithmeticError, TypeError):
        raise ValidationError({"amount": "Enter an amount such as 125.00."}) from None
    if amount <= 0:
        raise ValidationError({"amount": "The amount must be more than zero."})
    today = timezone.localdate()
    if due_date is None or due_date < today:
        raise ValidationError({"due_date": "The due date cannot be in the past."})
    if due_date > today + dt.timedelta(days=MAX_PROMISE_DAYS):
        raise ValidationError({"due_date": "A promise is due within a year."})
    promise = PromiseToPay.objects.create(
        account=account,
        claim=claim,
        amount=amount,
        payment_method=payment_method,
        due_date=due_date,
        created_by=actor,
    )
    record_audit_event(
        actor=actor,
        action="promise.created",
        obj=promise,
        changes={
            "amount": (None, amount),
            "due_date": (None, due_date),
            "claim": (None, claim.reference),
        },
    )
    return promise


def _end_of(day: dt.date, zone: str) -> dt.datetime:
    """The first moment after ``day`` in ``zone``."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(zone))


def _paid_since_made(end: dt.datetime | None = None):
    """What the claim's payments posted since the promise was made (and
    before ``end``) add up to, as a positive amount."""
    payments = LedgerEntry.objects.filter(
        claim_id=OuterRef("claim_id"),
        kind=LedgerEntry.Kind.PAYMENT,
        posted_at__gte=OuterRef("created_at"),
    )
    if end is not None:
        payments = payments.filter(posted_at__lt=end)
    total = payments.order_by().values("claim_id").annotate(total=Sum("amount")).values("total")
    return Coalesce(Subquery(total, output_field=_MONEY), Value(Decimal("0")), output_field=_MONEY)


@transaction.atomic
def settle_promises(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Mark pending promises kept (their payments cover them, by their due
    date) or broken (their due date has passed in their office's zone and
    they are not covered). Returns the counts."""
    now = now or timezone.now()
    pending = (
        PromiseToPay.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(state=PromiseToPay.State.PENDING)
        .select_related("account__office")
        .annotate(paid=-_paid_since_made())
    )
    kept: dict[int, Decimal] = {}
    broken: dict[int, Decimal] = {}
    settled_rows: list[PromiseToPay] = []
    broken_rows: list[PromiseToPay] = []
    for promise in pending.iterator(chunk_size=2000):
        zone = promise.account.office.timezone if promise.account.office_id else "UTC"
        end = _end_of(promise.due_date, zone)
        paid = promise.paid
        if now >= end:
            # Its day is over: only what came in by then counts (one query
            # for each promise whose day ended since the last settlement).
            paid = (
                PromiseToPay.objects.filter(pk=promise.pk)
                .annotate(paid=-_paid_since_made(end))
                .values_list("paid", flat=True)[0]
            )
        if paid >= promise.amount:
            promise.state, kept[promise.pk] = PromiseToPay.State.KEPT, to_money(paid)
        elif now >= end:
            promise.state, broken[promise.pk] = PromiseToPay.State.BROKEN, to_money(paid)
            broken_rows.append(promise)
        else:
            continue
        promise.paid_amount, promise.settled_at = to_money(paid), now
        settled_rows.append(promise)
    PromiseToPay.objects.bulk_update(
        settled_rows, ["state", "paid_amount", "settled_at"], batch_size=1000
    )
    for state, settled in ((PromiseToPay.State.KEPT, kept), (PromiseToPay.State.BROKEN, broken)):
        record_audit_events(
            actor=None,
            action=f"promise.{state}",
            model=PromiseToPay,
            changes_by_id=(
                (pk, {"state": (PromiseToPay.State.PENDING, state), "paid_amount": (None, paid)})
                for pk, paid in settled.items()
            ),
            occurred_at=now,
        )
    _tasks_for_broken(broken_rows, now=now)
    return {"kept": len(kept), "broken": len(broken)}


def _tasks_for_broken(promises: list[PromiseToPay], *, now: dt.datetime) -> int:
    """A task due the next day for each broken promise's assigned collector,
    where the account's company asks for it and names the queue."""
    if not promises:
        return 0
    policies = {
        p.company_id: p
        for p in BillingPolicy.objects.filter(
            company_id__in={p.account.company_id for p in promises},
            task_on_broken_promise=True,
            broken_promise_queue__isnull=False,
        ).select_related("broken_promise_queue")
    }
    wanted = []
    for promise in promises:
        policy = policies.get(promise.account.company_id)
        if policy is None or promise.account.assigned_to_id is None:
            continue
        wanted.append(
            SystemTask(
                account_id=promise.account_id,
                queue=policy.broken_promise_queue,
                user_id=promise.account.assigned_to_id,
                due_date=timezone.localdate(now) + dt.timedelta(days=1),
                tag="Broken promise",
                notes=f"The promise of {promise.amount} due {promise.due_date} was broken.",
            )
        )
    return create_system_tasks(wanted, now=now)


def promises_of(user, account: Account):
    """The account's promises, newest first, for whoever sees the account."""
    if not accounts_visible_to(user).filter(pk=account.pk).exists():
        return PromiseToPay.objects.none()
    return PromiseToPay.objects.filter(account=account).select_related("claim", "payment_method")
