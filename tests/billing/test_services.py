"""billing.services: every write moves the derived fields by exactly the
amount, refuses what breaks the sign rules without changing anything, and
leaves an audit event."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Account
from billing.models import Claim, LedgerEntry, Payment
from billing.selectors import find_balance_discrepancies
from billing.services import (
    decline_payment,
    post_ledger_entry,
    post_payment,
    record_payment,
    to_money,
)
from bulkops.models import AuditEvent
from tests.factories import AccountFactory, ClaimFactory, PaymentMethodFactory

pytestmark = pytest.mark.django_db

Kind = LedgerEntry.Kind


def snapshot(account, claim=None):
    """Everything a refused call must leave as it was."""
    account = Account.objects.get(pk=account.pk)
    state = {
        "current_balance": account.current_balance,
        "last_payment_amount": account.last_payment_amount,
        "last_payment_date": account.last_payment_date,
        "declined_count": account.declined_count,
        "ledger_entries": LedgerEntry.objects.count(),
        "payments": list(Payment.objects.order_by("pk").values_list("pk", "status")),
        "audit_events": AuditEvent.objects.count(),
    }
    if claim is not None:
        state["claim_balance"] = Claim.objects.get(pk=claim.pk).balance
    return state


def charged_account(amount="100.00", **kwargs):
    account = AccountFactory(**kwargs)
    post_ledger_entry(account=account, kind=Kind.CHARGE, amount=amount)
    return account


# --- to_money -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.005", "10.01"),
        ("10.004", "10.00"),
        ("-10.005", "-10.01"),
        ("0.015", "0.02"),
        ("0.025", "0.03"),  # half-up, not banker's rounding (which gives 0.02)
        (7, "7.00"),
        (Decimal("1.1"), "1.10"),
    ],
)
def test_to_money_rounds_half_up_to_cents(value, expected):
    result = to_money(value)
    assert isinstance(result, Decimal)
    assert str(result) == expected


def test_to_money_refuses_floats():
    with pytest.raises(TypeError, match="never a float"):
        to_money(0.1)


# --- post_ledger_entry ----------------------------------------------------------


def test_charge_moves_account_and_claim_balance_by_exactly_the_amount(supervisor):
    account = AccountFactory()
    claim = ClaimFactory(account=account)

    entry = post_ledger_entry(
        account=account, kind=Kind.CHARGE, amount="123.45", claim=claim, actor=supervisor
    )

    assert account.current_balance == Decimal("123.45")  # the passed instance is refreshed
    account.refresh_from_db()
    claim.refresh_from_db()
    assert account.current_balance == Decimal("123.45")
    assert claim.balance == Decimal("123.45")
    entry.refresh_from_db()
    assert (entry.account_id, entry.claim_id, entry.kind, entry.amount) == (
        account.pk,
        claim.pk,
        "charge",
        Decimal("123.45"),
    )
    assert entry.created_by == supervisor

    event = AuditEvent.objects.get()
    assert event.action == "ledger.charge"
    assert event.object_type == "accounts.account"
    assert event.object_id == account.pk
    assert event.actor == supervisor
    assert event.changes == {"current_balance": ["0.00", "123.45"]}


def test_entries_without_claim_leave_claims_alone_and_add_up(supervisor):
    account = AccountFactory()
    claim = ClaimFactory(account=account)
    post_ledger_entry(account=account, kind=Kind.CHARGE, amount="100.00", claim=claim)
    post_ledger_entry(account=account, kind=Kind.FEE, amount="15.50")
    post_ledger_entry(account=account, kind=Kind.CREDIT, amount="-5.25")
    post_ledger_entry(account=account, kind=Kind.WRITE_OFF, amount="-10.00", claim=claim)
    post_ledger_entry(account=account, kind=Kind.ADJUSTMENT, amount="-0.25")
    post_ledger_entry(account=account, kind=Kind.ADJUSTMENT, amount="1.00", actor=supervisor)

    account.refresh_from_db()
    claim.refresh_from_db()
    assert account.current_balance == Decimal("101.00")
    assert claim.balance == Decimal("90.00")
    last = AuditEvent.objects.filter(action="ledger.adjustment").order_by("-id").first()
    assert last.changes == {"current_balance": ["100.00", "101.00"]}
    assert AuditEvent.objects.filter(object_id=account.pk).count() == 6
    assert find_balance_discrepancies() == []


@pytest.mark.parametrize(
    ("kind", "amount", "message"),
    [
        (Kind.CHARGE, "-10.00", "A charge must increase the balance."),
        (Kind.FEE, "-0.01", "A fee must increase the balance."),
        (Kind.PAYMENT, "10.00", "A payment must decrease the balance."),
        (Kind.CREDIT, "0.01", "A credit must decrease the balance."),
        (Kind.WRITE_OFF, "5", "A write_off must decrease the balance."),
        (Kind.CHARGE, "0", "A ledger entry needs a non-zero amount."),
        (Kind.ADJUSTMENT, "0.00", "A ledger entry needs a non-zero amount."),
        # Rounds to zero cents, so it is a zero amount.
        (Kind.CHARGE, "0.004", "A ledger entry needs a non-zero amount."),
    ],
)
def test_refused_entries_change_nothing(kind, amount, message):
    account = charged_account("50.00")
    claim = ClaimFactory(account=account)
    before = snapshot(account, claim)

    with pytest.raises(ValidationError) as exc_info:
        post_ledger_entry(account=account, kind=kind, amount=amount, claim=claim)

    assert exc_info.value.messages == [message]
    assert snapshot(account, claim) == before
    assert account.current_balance == Decimal("50.00")


def test_float_amount_raises_type_error_and_changes_nothing():
    account = charged_account("50.00")
    before = snapshot(account)

    with pytest.raises(TypeError, match="money must be a Decimal, int or str, never a float"):
        post_ledger_entry(account=account, kind=Kind.CHARGE, amount=10.0)

    assert snapshot(account) == before


def test_claim_of_another_account_is_refused_and_changes_nothing():
    account = charged_account("50.00")
    foreign_claim = ClaimFactory()  # on another account
    before = snapshot(account, foreign_claim)

    with pytest.raises(ValidationError) as exc_info:
        post_ledger_entry(account=account, kind=Kind.CHARGE, amount="10.00", claim=foreign_claim)

    assert exc_info.value.messages == ["The claim belongs to another account."]
    assert snapshot(account, foreign_claim) == before
    assert Account.objects.get(pk=foreign_claim.account_id).current_balance == Decimal("0.00")


def test_a_thousand_cents_sum_to_exactly_ten():
    account = AccountFactory()
    for _ in range(1000):
        post_ledger_entry(account=account, kind=Kind.CHARGE, amount="0.01")

    account.refresh_from_db()
    assert account.current_balance == Decimal("10.00")
    assert LedgerEntry.objects.filter(account=account).count() == 1000
    assert find_balance_discrepancies() == []


def test_tenths_and_fifths_sum_exactly():
    # 0.1 + 0.2 != 0.3 in binary floating point; in Decimal it is exact.
    account = AccountFactory()
    for _ in range(50):
        post_ledger_entry(account=account, kind=Kind.CHARGE, amount="0.10")
        post_ledger_entry(account=account, kind=Kind.CHARGE, amount="0.20")
    post_ledger_entry(account=account, kind=Kind.CREDIT, amount="-14.70")

    account.refresh_from_db()
    assert account.current_balance == Decimal("0.30")
    assert find_balance_discrepancies() == []


def test_amount_is_rounded_half_up_before_posting():
    account = AccountFactory()
    entry = post_ledger_entry(account=account, kind=Kind.CHARGE, amount="10.005")

    entry.refresh_from_db()
    account.refresh_from_db()
    assert entry.amount == Decimal("10.01")
    assert account.current_balance == Decimal("10.01")
    assert AuditEvent.objects.get().changes == {"current_balance": ["0.00", "10.01"]}


# --- payments -------------------------------------------------------------------


def test_recorded_payment_is_pending_and_does_not_move_the_balance(supervisor):
    account = charged_account("100.00")
    method = PaymentMethodFactory(account=account)

    payment = record_payment(
        account=account, amount="25.00", payment_method=method, credited_to=supervisor
    )

    payment.refresh_from_db()
    account.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert payment.amount == Decimal("25.00")
    assert payment.credited_to == supervisor
    assert payment.posted_at is None
    assert account.current_balance == Decimal("100.00")
    assert account.last_payment_amount is None
    assert account.last_payment_date is None
    assert LedgerEntry.objects.filter(kind=Kind.PAYMENT).count() == 0

    event = AuditEvent.objects.get(action="payment.recorded")
    assert (event.object_type, event.object_id) == ("billing.payment", payment.pk)
    assert event.changes == {"status": [None, "pending"], "amount": [None, "25.00"]}
    assert find_balance_discrepancies() == []


def test_payment_is_credited_to_the_assigned_collector_by_default(collector):
    account = charged_account("100.00", assigned_to=collector)
    payment = record_payment(account=account, amount="10.00")
    assert Payment.objects.get(pk=payment.pk).credited_to == collector


@pytest.mark.parametrize("amount", ["0", "-5.00", "0.004"])
def test_record_payment_refuses_non_positive_amounts(amount):
    account = charged_account("100.00")
    before = snapshot(account)

    with pytest.raises(ValidationError) as exc_info:
        record_payment(account=account, amount=amount)

    assert exc_info.value.messages == ["A payment amount must be positive."]
    assert snapshot(account) == before


def test_record_payment_refuses_floats_and_foreign_claims():
    account = charged_account("100.00")
    foreign_claim = ClaimFactory()
    before = snapshot(account)

    with pytest.raises(TypeError, match="never a float"):
        record_payment(account=account, amount=10.5)
    with pytest.raises(ValidationError) as exc_info:
        record_payment(account=account, amount="10.00", claim=foreign_claim)

    assert exc_info.value.messages == ["The claim belongs to another account."]
    assert snapshot(account) == before


def test_posting_moves_the_balance_and_sets_the_last_payment(supervisor):
    account = AccountFactory()
    claim = ClaimFactory(account=account)
    post_ledger_entry(account=account, kind=Kind.CHARGE, amount="100.00", claim=claim)
    received = dt.datetime(2025, 3, 10, 15, 30, tzinfo=dt.UTC)
    payment = record_payment(account=account, amount="40.00", claim=claim, received_at=received)
    events_before = AuditEvent.objects.count()

    entry = post_payment(payment=payment, actor=supervisor)

    account.refresh_from_db()
    claim.refresh_from_db()
    payment.refresh_from_db()
    assert account.current_balance == Decimal("60.00")
    assert claim.balance == Decimal("60.00")
    assert account.last_payment_amount == Decimal("40.00")
    assert account.last_payment_date == dt.date(2025, 3, 10)
    assert payment.status == Payment.Status.POSTED
    assert payment.posted_at is not None
    entry.refresh_from_db()
    assert (entry.kind, entry.amount, entry.payment_id, entry.claim_id, entry.context) == (
        "payment",
        Decimal("-40.00"),
        payment.pk,
        claim.pk,
        "system",
    )

    new_events = AuditEvent.objects.filter(pk__gt=0).order_by("id")[events_before:]
    assert [(e.action, e.object_type, e.object_id, e.changes) for e in new_events] == [
        (
            "ledger.payment",
            "accounts.account",
            account.pk,
            {"current_balance": ["100.00", "60.00"]},
        ),
        ("payment.posted", "billing.payment", payment.pk, {"status": ["pending", "posted"]}),
    ]
    assert all(e.actor_id == supervisor.pk for e in new_events)
    assert find_balance_discrepancies() == []


def test_posting_an_older_payment_after_a_newer_one_keeps_the_newer_as_last():
    account = charged_account("500.00")
    newer = record_payment(
        account=account, amount="30.00", received_at=dt.datetime(2025, 5, 20, 12, tzinfo=dt.UTC)
    )
    older = record_payment(
        account=account, amount="70.00", received_at=dt.datetime(2025, 4, 1, 12, tzinfo=dt.UTC)
    )

    post_payment(payment=newer)
    post_payment(payment=older)

    account.refresh_from_db()
    assert account.current_balance == Decimal("400.00")
    assert account.last_payment_amount == Decimal("30.00")
    assert account.last_payment_date == dt.date(2025, 5, 20)
    assert find_balance_discrepancies() == []


def test_posting_a_newer_payment_after_an_older_one_replaces_the_last():
    account = charged_account("500.00")
    older = record_payment(
        account=account, amount="70.00", received_at=dt.datetime(2025, 4, 1, 12, tzinfo=dt.UTC)
    )
    newer = record_payment(
        account=account, amount="30.00", received_at=dt.datetime(2025, 5, 20, 12, tzinfo=dt.UTC)
    )

    post_payment(payment=older)
    account.refresh_from_db()
    assert (account.last_payment_amount, account.last_payment_date) == (
        Decimal("70.00"),
        dt.date(2025, 4, 1),
    )

    post_payment(payment=newer)
    account.refresh_from_db()
    assert (account.last_payment_amount, account.last_payment_date) == (
        Decimal("30.00"),
        dt.date(2025, 5, 20),
    )


def test_a_pending_newer_payment_does_not_count_as_last():
    account = charged_account("500.00")
    record_payment(
        account=account, amount="99.00", received_at=dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
    )
    older = record_payment(
        account=account, amount="10.00", received_at=dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
    )

    post_payment(payment=older)

    account.refresh_from_db()
    assert account.last_payment_amount == Decimal("10.00")
    assert account.last_payment_date == dt.date(2025, 1, 1)
    assert find_balance_discrepancies() == []


def test_declining_counts_the_decline_and_does_not_move_the_balance(supervisor):
    account = charged_account("100.00")
    first = record_payment(account=account, amount="20.00")
    second = record_payment(account=account, amount="20.00")

    declined = decline_payment(payment=first, reason="Insufficient funds", actor=supervisor)
    decline_payment(payment=second, reason="Card expired")

    account.refresh_from_db()
    assert declined.status == Payment.Status.DECLINED
    assert Payment.objects.get(pk=first.pk).decline_reason == "Insufficient funds"
    assert account.declined_count == 2
    assert account.current_balance == Decimal("100.00")
    assert account.last_payment_amount is None
    event = AuditEvent.objects.filter(action="payment.declined").order_by("id").first()
    assert (event.object_type, event.object_id, event.actor_id) == (
        "billing.payment",
        first.pk,
        supervisor.pk,
    )
    assert event.changes == {"status": ["pending", "declined"]}
    assert find_balance_discrepancies() == []


def test_posting_twice_is_refused_and_changes_nothing():
    account = charged_account("100.00")
    payment = record_payment(account=account, amount="40.00")
    post_payment(payment=payment)
    before = snapshot(account)

    with pytest.raises(ValidationError) as exc_info:
        post_payment(payment=payment)

    assert exc_info.value.messages == ["Only a pending payment can be posted (this one is posted)."]
    assert snapshot(account) == before
    assert before["current_balance"] == Decimal("60.00")


def test_declining_a_posted_payment_is_refused_and_changes_nothing():
    account = charged_account("100.00")
    payment = record_payment(account=account, amount="40.00")
    post_payment(payment=payment)
    before = snapshot(account)

    with pytest.raises(ValidationError) as exc_info:
        decline_payment(payment=payment, reason="too late")

    assert exc_info.value.messages == [
        "Only a pending payment can be declined (this one is posted)."
    ]
    assert snapshot(account) == before
    assert Payment.objects.get(pk=payment.pk).decline_reason == ""
    assert before["declined_count"] == 0


def test_posting_a_declined_payment_is_refused_and_changes_nothing():
    account = charged_account("100.00")
    payment = record_payment(account=account, amount="40.00")
    decline_payment(payment=payment, reason="Insufficient funds")
    before = snapshot(account)

    with pytest.raises(ValidationError) as exc_info:
        post_payment(payment=payment)
    with pytest.raises(ValidationError) as exc_info_again:
        decline_payment(payment=payment, reason="again")

    assert exc_info.value.messages == [
        "Only a pending payment can be posted (this one is declined)."
    ]
    assert exc_info_again.value.messages == [
        "Only a pending payment can be declined (this one is declined)."
    ]
    assert snapshot(account) == before
    assert before["declined_count"] == 1
    assert before["current_balance"] == Decimal("100.00")
