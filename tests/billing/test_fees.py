"""Add Fees' amounts (seed 001), each mode against hand-computed figures:
the balance as of a date from the ledger, the invoices with balances, the
initial service discount once per subscription, rounding to the cent half
up, zero fees skipped, the company's maximum refused; and the posting on
new invoices of the fee service type, reconciled with the ledger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from billing import fees
from billing.fees import FeeMode
from billing.models import Claim, LedgerEntry, ServiceType, Subscription
from billing.selectors import find_balance_discrepancies
from billing.services import post_ledger_entry
from bulkops.models import AuditEvent
from tests.factories import create_accounts

pytestmark = pytest.mark.django_db
D = Decimal


def invoice(account, amount, *, paid="0.00", subscription=None, days_ago=0, ref=None):
    """An invoice of ``amount`` charged ``days_ago``, ``paid`` of it paid."""
    claim = Claim.objects.create(
        account=account,
        subscription=subscription,
        reference=ref or f"INV-{Claim.objects.count() + 1}",
        original_amount=D(amount),
        due_date=timezone.localdate(),
    )
    posted = timezone.now() - dt.timedelta(days=days_ago)
    entry = post_ledger_entry(
        account=account, kind=LedgerEntry.Kind.CHARGE, amount=amount, claim=claim
    )
    LedgerEntry.objects.filter(pk=entry.pk).update(posted_at=posted)
    if D(paid):
        payment = post_ledger_entry(
            account=account, kind=LedgerEntry.Kind.PAYMENT, amount=-D(paid), claim=claim
        )
        LedgerEntry.objects.filter(pk=payment.pk).update(posted_at=posted)
    return claim


@pytest.fixture
def book(company):
    """alpha: two subscriptions; Fibre (discount 40.00) with two invoices
    with balances, TV (discount 15.00) with a paid one only; an invoice of
    no subscription. beta: one invoice 10 days old, part paid. gamma: owes
    nothing. delta: a single small invoice."""
    alpha, beta, gamma, delta = create_accounts(4, company=company)
    fibre = Subscription.objects.create(
        account=alpha, service_name="Fibre", initial_service_discount=D("40.00")
    )
    tv = Subscription.objects.create(
        account=alpha, service_name="TV", initial_service_discount=D("15.00")
    )
    invoice(alpha, "100.00", paid="25.00", subscription=fibre)  # balance 75
    invoice(alpha, "50.00", subscription=fibre)  # balance 50
    invoice(alpha, "30.00", paid="30.00", subscription=tv)  # paid: no balance
    invoice(alpha, "20.05")  # no subscription, balance 20.05
    invoice(beta, "200.00", paid="80.00", days_ago=10)  # balance 120, all 10 days ago
    invoice(delta, "0.10")
    return {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}


def computed(book, mode, value, **kwargs):
    ids = [a.pk for a in book.values()]
    result = fees.fees_for(ids, mode=mode, value=D(value), **kwargs)
    return {name: result[a.pk] for name, a in book.items()}


def test_fixed_amount_goes_to_every_account(book):
    result = computed(book, FeeMode.FIXED, "12.50")
    assert {name: fee.amount for name, fee in result.items()} == dict.fromkeys(book, D("12.50"))


def test_percent_of_balance_as_of_a_date_comes_from_the_ledger(book):
    # alpha owes 75 + 50 + 20.05 = 145.05; beta 120; delta 0.10; gamma nothing.
    now = computed(book, FeeMode.PERCENT_OF_BALANCE, "10")
    assert now["alpha"].amount == D("14.51")  # 14.505, half up
    assert now["beta"].amount == D("12.00")
    assert now["delta"].amount == D("0.01")
    # 4 % of 0.10 is 0.004: no fee.
    small = computed(book, FeeMode.PERCENT_OF_BALANCE, "4")["delta"]
    assert small == fees.Fee(D("0.10"), D("0.00"), fees.ROUNDS_TO_ZERO)
    assert now["gamma"].reason == fees.NO_BALANCE
    # Five days ago only beta's invoice (10 days old) was owed.
    before = computed(
        book, FeeMode.PERCENT_OF_BALANCE, "10", as_of=timezone.localdate() - dt.timedelta(days=5)
    )
    assert before["beta"].amount == D("12.00")
    assert before["alpha"].reason == fees.NO_BALANCE


def test_service_account_modes(book):
    per_customer = computed(book, FeeMode.FIXED_PER_CUSTOMER, "5.00")
    assert per_customer["alpha"].amount == D("5.00") and per_customer["beta"].amount == D("5.00")
    assert per_customer["gamma"].reason == fees.NO_INVOICE
    # % of the invoices' balances: alpha 145.05 × 3 % = 4.3515.
    balance = computed(book, FeeMode.PERCENT_OF_INVOICE_BALANCE, "3")
    assert balance["alpha"] == fees.Fee(D("145.05"), D("4.35"))
    # % of the amounts charged on invoices with balances: alpha 100 + 50 + 20.05.
    total = computed(book, FeeMode.PERCENT_OF_INVOICE_TOTAL, "3")
    assert total["alpha"] == fees.Fee(D("170.05"), D("5.10"))  # 5.1015
    assert total["beta"].amount == D("6.00")
    # Once per subscription with an invoice with a balance: Fibre only (two
    # invoices, counted once); TV's invoice is paid.
    discount = computed(book, FeeMode.PERCENT_OF_INITIAL_DISCOUNT, "50")
    assert discount["alpha"] == fees.Fee(D("40.00"), D("20.00"))
    assert discount["beta"].reason == fees.NO_SUBSCRIPTION


def test_rounding_half_up_and_the_company_s_maximum(book):
    half = computed(book, FeeMode.PERCENT_OF_INVOICE_BALANCE, "5")
    assert half["delta"].amount == D("0.01")  # 0.005 → 0.01
    capped = computed(book, FeeMode.PERCENT_OF_BALANCE, "10", max_fee=D("12.00"))
    assert capped["beta"].reason == ""  # 12.00 is not above 12.00
    assert capped["alpha"].reason == "$14.51 is above the company's maximum fee of $12.00"


def test_fees_are_posted_on_new_invoices_of_the_service_type(supervisor, book):
    fee_type = ServiceType.objects.get(company=None, name="Fee")
    alpha, beta = book["alpha"], book["beta"]
    invoices_before = Claim.objects.count()
    made = fees.add_fees(
        actor=supervisor,
        fees={alpha.pk: D("4.35"), beta.pk: D("6.00"), book["gamma"].pk: D("0.00")},
        service_type=fee_type,
        reference="FEE-1",
    )
    assert len(made) == 2 and Claim.objects.count() == invoices_before + 2
    new = Claim.objects.get(account=alpha, reference="FEE-1")
    assert (new.service_type, new.original_amount, new.balance) == (fee_type, D("4.35"), D("4.35"))
    assert Account.objects.get(pk=alpha.pk).current_balance == D("149.40")
    assert Account.objects.get(pk=beta.pk).current_balance == D("126.00")
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.FEE).count() == 2
    assert AuditEvent.objects.filter(action="ledger.fee").count() == 2
    event = AuditEvent.objects.get(action="ledger.fee", object_id=alpha.pk)
    assert event.changes == {"current_balance": ["145.05", "149.40"]}
    assert (event.company_id, event.actor_id) == (alpha.company_id, supervisor.pk)
    entry = LedgerEntry.objects.get(claim=new)
    assert (entry.account_id, entry.amount, entry.context) == (alpha.pk, D("4.35"), "manual")
    assert sorted(made) == sorted(
        Claim.objects.filter(reference="FEE-1").values_list("pk", flat=True)
    )
    assert find_balance_discrepancies() == []


def test_expired_verifications_are_purged_with_their_rows(supervisor, company):
    from billing.models import FeeVerification, FeeVerificationRow

    accounts = create_accounts(3, company=company)
    old = FeeVerification.objects.create(owner=supervisor, fingerprint="old")
    fresh = FeeVerification.objects.create(owner=supervisor, fingerprint="fresh")
    for verification in (old, fresh):
        FeeVerificationRow.objects.bulk_create(
            FeeVerificationRow(verification=verification, account=a, amount=Decimal("1.00"))
            for a in accounts
        )
    FeeVerification.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - fees.VERIFICATION_MAX_AGE - dt.timedelta(minutes=1)
    )
    assert fees.purge_expired_verifications() == 1
    assert list(FeeVerification.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert FeeVerificationRow.objects.filter(verification=fresh).count() == 3
    assert not FeeVerificationRow.objects.filter(verification_id=old.pk).exists()
