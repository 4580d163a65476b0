"""Writes that move money. Each runs in one transaction that also updates the
account's derived fields (current balance, last payment, declined count) and
records the audit event, so the ledger and the account never disagree."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, DecimalField, F, Q, Value, When
from django.utils import timezone

from accounts.models import MONEY, Account
from billing.models import Claim, LedgerEntry, Payment, PaymentMethod
from bulkops.registry import Outcomes
from bulkops.services import (
    audit_insert_sql,
    record_audit_event,
    record_audit_events,
    record_field_change,
)

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
    amount = _checked_amount(kind, amount)
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


@dataclass(frozen=True)
class NewEntry:
    """One journal line for ``post_ledger_entries`` (ids, not instances, so a
    chunk of thousands costs no model loading)."""

    account_id: int
    kind: str
    amount: Decimal
    claim_id: int | None = None
    description: str = ""
    payment_method_id: int | None = None
    reverses_id: int | None = None


def _checked_amount(kind: str, amount) -> Decimal:
    amount = to_money(amount)
    if amount == 0:
        raise ValidationError("A ledger entry needs a non-zero amount.")
    if kind in _POSITIVE and amount < 0:
        raise ValidationError(f"A {kind} must increase the balance.")
    if kind in _NEGATIVE and amount > 0:
        raise ValidationError(f"A {kind} must decrease the balance.")
    return amount


def _new_balances(model, before: dict[int, Decimal], moves: dict[int, Decimal]) -> int:
    """One UPDATE setting each row's balance column to its before + move,
    computed here in Decimal (F() arithmetic is floating point on SQLite).

    On PostgreSQL the new balances go as two arrays joined to the table
    (``UPDATE ... FROM unnest(...)``): one index probe a row. The portable
    form, a CASE with a WHEN per row, is compared with every row it
    updates, which for a chunk of thousands is millions of comparisons."""
    field = "current_balance" if model is Account else "balance"
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(model._meta.db_table)
        column = connection.ops.quote_name(model._meta.get_field(field).column)
        ids = list(moves)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS t SET {column} = v.balance"
                " FROM unnest(%s::bigint[], %s::numeric[]) AS v(id, balance)"
                " WHERE t.id = v.id",
                [ids, [before[pk] + moves[pk] for pk in ids]],
            )
            return cursor.rowcount
    output = DecimalField(**MONEY)
    whens = [
        When(pk=pk, then=Value(before[pk] + move, output_field=output))
        for pk, move in moves.items()
    ]
    return model.objects.filter(pk__any=list(moves)).update(
        **{field: Case(*whens, output_field=output)}
    )


def actor_id(actor) -> int | None:
    """The user who posts, as a column value: None for nobody (a beat task)."""
    return actor.pk if actor is not None and actor.is_authenticated else None


def lock_accounts(account_ids) -> dict[int, Decimal]:
    """Lock these accounts (``SELECT ... FOR UPDATE``) in id order, as every
    writer of several accounts does, so two batches over the same accounts
    cannot deadlock; in a transaction. Returns their balances by id (an
    account that does not exist is missing)."""
    return dict(
        Account.objects.select_for_update()
        .filter(pk__any=list(account_ids))
        .order_by("pk")
        .values_list("pk", "current_balance")
    )


def post_ledger_entries(
    *,
    entries: Sequence[NewEntry],
    actor=None,
    context: str = LedgerEntry.Context.BULK,
    bulk_operation=None,
) -> list[LedgerEntry]:
    """Post many journal lines at once (a chunk of fees or write-offs) and move
    the accounts' and claims' balances by their sums: the accounts and claims
    locked in one statement each, the entries inserted in one, the balances
    updated in one each, and the audit (an account's balance before and
    after) in one, however many entries there are.

    Every line is checked first, as ``post_ledger_entry`` checks one; a bad
    line refuses the whole batch, naming its account, and writes nothing."""
    if not entries:
        return []
    lines = []
    for entry in entries:
        try:
            lines.append((entry, _checked_amount(entry.kind, entry.amount)))
        except ValidationError as exc:
            raise ValidationError(f"Account {entry.account_id}: {exc.messages[0]}") from exc
    account_ids = sorted({entry.account_id for entry in entries})
    claim_ids = sorted({entry.claim_id for entry in entries if entry.claim_id is not None})

    with transaction.atomic():
        account_before = lock_accounts(account_ids)
        if missing := set(account_ids) - set(account_before):
            raise ValidationError(f"Account {min(missing)} does not exist.")
        claim_before: dict[int, Decimal] = {}
        if claim_ids:
            claims = (
                Claim.objects.select_for_update()
                .filter(pk__any=claim_ids)
                .order_by("pk")
                .values_list("pk", "account_id", "balance")
            )
            claim_account = {}
            for pk, account_id, balance in claims:
                claim_account[pk], claim_before[pk] = account_id, balance
            for entry in entries:
                if (
                    entry.claim_id is not None
                    and claim_account.get(entry.claim_id) != entry.account_id
                ):
                    raise ValidationError(
                        f"Account {entry.account_id}: the claim belongs to another account."
                    )

        created_by = actor if actor is not None and actor.is_authenticated else None
        posted_at = timezone.now()
        created = LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(
                    account_id=entry.account_id,
                    claim_id=entry.claim_id,
                    kind=entry.kind,
                    amount=amount,
                    context=context,
                    description=entry.description,
                    payment_method_id=entry.payment_method_id,
                    reverses_id=entry.reverses_id,
                    created_by=created_by,
                    bulk_operation=bulk_operation,
                    posted_at=posted_at,
                )
                for entry, amount in lines
            ]
        )
        account_moves: dict[int, Decimal] = defaultdict(Decimal)
        claim_moves: dict[int, Decimal] = defaultdict(Decimal)
        kinds: dict[int, set[str]] = defaultdict(set)
        for entry, amount in lines:
            account_moves[entry.account_id] += amount
            kinds[entry.account_id].add(entry.kind)
            if entry.claim_id is not None:
                claim_moves[entry.claim_id] += amount
        _new_balances(Account, account_before, account_moves)
        if claim_moves:
            _new_balances(Claim, claim_before, claim_moves)

        # One audit event per account: its balance before and after the batch,
        # under the entries' kind (``ledger.entries`` when they mix kinds).
        by_action: dict[str, list] = defaultdict(list)
        for account_id, move in account_moves.items():
            (kind,) = kinds[account_id] if len(kinds[account_id]) == 1 else ("entries",)
            before = account_before[account_id]
            by_action[f"ledger.{kind}"].append(
                (account_id, {"current_balance": (before, before + move)})
            )
        for action, changes_by_id in by_action.items():
            record_audit_events(
                actor=actor,
                action=action,
                model=Account,
                changes_by_id=changes_by_id,
                bulk_operation=bulk_operation,
                occurred_at=posted_at,
            )
    return created


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


# Which payments each Credit Payments choice moves. Declined payments never
# move: no money came in for the collector to be credited with.
CREDITED_STATUSES = {
    "all": (Payment.Status.PENDING, Payment.Status.POSTED),
    "pending": (Payment.Status.PENDING,),
}


def credit_payments(
    *,
    actor,
    account_ids: list[int],
    collector,
    statuses=CREDITED_STATUSES["all"],
    bulk_operation=None,
) -> int:
    """Credit the payments of these accounts to ``collector``: those in
    ``statuses`` (pending and posted unless told otherwise) not already
    credited to them, in one audited statement. Returns how many changed."""
    payments = Payment.objects.filter(
        account_id__any=list(account_ids), status__in=list(statuses)
    ).exclude(credited_to=collector)
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


NO_POSITIVE_BALANCE = "No positive balance to write off"
WRITE_OFF_DESCRIPTION = "Write Off Balances"


def write_off_balances(
    *, actor, account_ids: Sequence[int], bulk_operation=None, note: str = ""
) -> Outcomes:
    """Clear the balances of these accounts with a coupon (seed 001's Write
    Off Balances): a credit on each claim with a balance, equal to it, and
    one for what no claim holds, so the account's balance is zero; the
    cleared claims are marked written off, all in one transaction. Accounts
    with no positive balance are skipped with the reason. Done from a bulk
    operation, the entries carry it and the Bulk context, which is how bulk
    write-offs are told apart from single ones."""
    outcomes = Outcomes()
    with transaction.atomic():
        # Balances read under lock: what is written off is what is owed now.
        balances = lock_accounts(account_ids)
        owed = {pk: balance for pk, balance in balances.items() if balance > 0}
        outcomes.skip(set(account_ids) - set(owed), NO_POSITIVE_BALANCE)
        if not owed:
            return outcomes
        description = f"{WRITE_OFF_DESCRIPTION}: {note}"[:255] if note else WRITE_OFF_DESCRIPTION
        context = LedgerEntry.Context.BULK if bulk_operation else LedgerEntry.Context.MANUAL
        if connection.vendor == "postgresql":
            _write_off_in_sql(
                account_ids=sorted(owed),
                actor=actor,
                description=description,
                context=context,
                bulk_operation=bulk_operation,
            )
            return outcomes
        entries, left = [], dict(owed)
        claims = (
            Claim.objects.select_for_update()
            .filter(account_id__any=list(owed), balance__gt=0)
            .order_by("pk")
            .values_list("pk", "account_id", "balance")
        )
        cleared = []
        for claim_id, account_id, balance in claims:
            # Never more than the account owes (a payment posted without a
            # claim can leave the claims above the account's balance).
            amount = min(balance, left[account_id])
            if amount <= 0:
                continue
            entries.append(
                NewEntry(account_id, LedgerEntry.Kind.CREDIT, -amount, claim_id, description)
            )
            left[account_id] -= amount
            if amount == balance:
                cleared.append(claim_id)
        for account_id, amount in left.items():
            if amount > 0:
                entries.append(
                    NewEntry(account_id, LedgerEntry.Kind.CREDIT, -amount, None, description)
                )
        post_ledger_entries(
            entries=entries, actor=actor, context=context, bulk_operation=bulk_operation
        )
        if cleared:
            written_off = Claim.objects.filter(pk__any=cleared).exclude(
                status=Claim.Status.WRITTEN_OFF
            )
            record_field_change(
                actor=actor,
                action="claim.written_off",
                queryset=written_off,
                field="status",
                new_value=Claim.Status.WRITTEN_OFF,
                bulk_operation=bulk_operation,
            )
            written_off.update(status=Claim.Status.WRITTEN_OFF)
    return outcomes


# The write-off of a chunk on PostgreSQL, in one statement once the accounts
# are locked (the caller's SELECT ... FOR UPDATE): the same rows as the
# portable path above (credits per claim with a balance, in claim order and
# never more than the account still owes, then one for what no claim holds;
# the cleared claims marked written off; the balances zeroed; an audit event
# per account and per claim newly written off), computed and written by the
# database without a row travelling to Python. The claims are locked in id
# order before they are read; every writer of a claim's balance holds its
# account's lock first, so what is read is what is owed.
_WRITE_OFF_SQL = """
WITH owed AS (
    SELECT a.id, a.company_id, a.current_balance
    FROM {account} a
    WHERE a.id = ANY(%s::bigint[]) AND a.current_balance > 0
),
locked AS (
    SELECT c.id, c.account_id, c.balance, c.status
    FROM {claim} c
    WHERE c.account_id = ANY(%s::bigint[]) AND c.balance > 0
    ORDER BY c.id
    FOR UPDATE
),
ordered AS (
    SELECT l.id, l.account_id, l.balance, l.status, o.company_id, o.current_balance AS owed,
           coalesce(sum(l.balance) OVER (PARTITION BY l.account_id ORDER BY l.id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
    FROM locked l JOIN owed o ON o.id = l.account_id
),
claim_credits AS (
    SELECT id AS claim_id, account_id, company_id, balance, status,
           least(balance, owed - before) AS amount
    FROM ordered WHERE owed - before > 0
),
rest AS (
    SELECT o.id AS account_id, o.current_balance - coalesce(sum(cc.amount), 0) AS amount
    FROM owed o LEFT JOIN claim_credits cc ON cc.account_id = o.id
    GROUP BY o.id, o.current_balance
),
entries AS (
    INSERT INTO {entry}
        (kind, amount, context, description, posted_at, account_id, claim_id, created_by_id,
         bulk_operation_id)
    SELECT %s, -e.amount, %s, %s, %s, e.account_id, e.claim_id, %s, %s
    FROM (
        SELECT account_id, claim_id, amount FROM claim_credits
        UNION ALL
        SELECT account_id, NULL, amount FROM rest WHERE amount > 0
    ) e
    RETURNING 1
),
claim_events AS (
    SELECT claim_id AS object_id, company_id,
           jsonb_build_object('status', jsonb_build_array(status, %s::text)) AS changes
    FROM claim_credits WHERE amount = balance AND status <> %s
),
claim_audit AS ({claim_audit} RETURNING 1),
claims_cleared AS (
    UPDATE {claim} c
    SET balance = c.balance - cc.amount,
        status = CASE WHEN cc.amount = cc.balance THEN %s ELSE c.status END
    FROM claim_credits cc WHERE c.id = cc.claim_id
    RETURNING 1
),
account_events AS (
    SELECT id AS object_id, company_id,
           jsonb_build_object('current_balance', jsonb_build_array(current_balance::text, '0.00'))
               AS changes
    FROM owed
),
account_audit AS ({account_audit} RETURNING 1)
UPDATE {account} a SET current_balance = 0 FROM owed o WHERE a.id = o.id
"""


def _write_off_in_sql(*, account_ids, actor, description, context, bulk_operation) -> None:
    posted_at = timezone.now()
    quote = connection.ops.quote_name
    claim_audit, claim_audit_params = audit_insert_sql(
        actor=actor,
        action="claim.written_off",
        model=Claim,
        source="claim_events",
        bulk_operation=bulk_operation,
        occurred_at=posted_at,
    )
    account_audit, account_audit_params = audit_insert_sql(
        actor=actor,
        action=f"ledger.{LedgerEntry.Kind.CREDIT}",
        model=Account,
        source="account_events",
        bulk_operation=bulk_operation,
        occurred_at=posted_at,
    )
    sql = _WRITE_OFF_SQL.format(
        account=quote(Account._meta.db_table),
        claim=quote(Claim._meta.db_table),
        entry=quote(LedgerEntry._meta.db_table),
        claim_audit=claim_audit,
        account_audit=account_audit,
    )
    written_off = Claim.Status.WRITTEN_OFF
    params = [
        account_ids,
        account_ids,
        LedgerEntry.Kind.CREDIT,
        context,
        description,
        posted_at,
        actor_id(actor),
        bulk_operation.pk if bulk_operation else None,
        written_off,
        written_off,
        *claim_audit_params,
        written_off,
        *account_audit_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
