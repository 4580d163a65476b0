"""Write Off Balances (seed 001), billing's bulk action: a coupon equal to
each account's balance, claims cleared and marked written off, accounts
with nothing owed skipped, the ledger reconciled, bulk write-offs told
apart from single ones; added as one module and a template, with no change
to the engine."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Account
from billing.models import Claim, LedgerEntry
from billing.selectors import find_balance_discrepancies
from billing.services import (
    NO_POSITIVE_BALANCE,
    post_ledger_entry,
    post_payment,
    record_payment,
    write_off_balances,
)
from bulkops.models import AuditEvent
from bulkops.registry import get_action, toolbar_for
from tests.bulkops.test_actions import audit, outcome_of, run
from tests.factories import ClaimFactory, create_accounts

pytestmark = pytest.mark.django_db

Kind = LedgerEntry.Kind


def charge(account, amount, *, claim=True):
    claim_row = ClaimFactory(account=account, original_amount=Decimal(amount)) if claim else None
    post_ledger_entry(account=account, kind=Kind.CHARGE, amount=amount, claim=claim_row)
    return claim_row


@pytest.fixture
def ledger(company):
    """two_claims owes 150 on two claims; paid_down's claim of 80 had 30 paid
    without a claim (owes 50); unclaimed owes 20 on no claim; paid_up owes
    nothing; in_credit is owed 10."""
    two_claims, paid_down, unclaimed, paid_up, in_credit = create_accounts(5, company=company)
    claims = {"a": charge(two_claims, "100.00"), "b": charge(two_claims, "50.00")}
    claims["c"] = charge(paid_down, "80.00")
    payment = record_payment(account=paid_down, amount="30.00")
    post_payment(payment=payment)
    charge(unclaimed, "20.00", claim=False)
    claims["d"] = charge(in_credit, "10.00")
    credit = record_payment(account=in_credit, amount="20.00")
    post_payment(payment=credit)
    return {
        "accounts": {
            "two_claims": two_claims,
            "paid_down": paid_down,
            "unclaimed": unclaimed,
            "paid_up": paid_up,
            "in_credit": in_credit,
        },
        "claims": claims,
    }


def balances(accounts):
    return {name: Account.objects.get(pk=a.pk).current_balance for name, a in accounts.items()}


def test_write_off_balances_clears_what_is_owed_and_skips_the_rest(supervisor, ledger):
    accounts, claims = ledger["accounts"], ledger["claims"]
    operation = run(supervisor, "write_off", list(accounts.values()), {"note": "  Aged  debt "})

    assert balances(accounts) == {
        "two_claims": Decimal("0.00"),
        "paid_down": Decimal("0.00"),
        "unclaimed": Decimal("0.00"),
        "paid_up": Decimal("0.00"),
        "in_credit": Decimal("-10.00"),
    }
    assert (operation.succeeded, operation.skipped, operation.failed) == (3, 2, 0)
    assert outcome_of(operation, accounts["paid_up"]) == ("skipped", NO_POSITIVE_BALANCE)
    assert outcome_of(operation, accounts["in_credit"]) == ("skipped", NO_POSITIVE_BALANCE)
    # Claims cleared are written off; one whose balance the account does not
    # owe in full keeps the rest, open.
    state = {k: Claim.objects.get(pk=c.pk) for k, c in claims.items()}
    assert {k: (c.balance, c.status) for k, c in state.items()} == {
        "a": (Decimal("0.00"), Claim.Status.WRITTEN_OFF),
        "b": (Decimal("0.00"), Claim.Status.WRITTEN_OFF),
        "c": (Decimal("30.00"), Claim.Status.OPEN),
        "d": (Decimal("10.00"), Claim.Status.OPEN),
    }
    assert find_balance_discrepancies() == []

    # The coupons: credits in the Bulk context, carrying the operation.
    coupons = LedgerEntry.objects.filter(bulk_operation=operation).order_by("pk")
    assert [(e.account_id, e.claim_id, e.amount) for e in coupons] == [
        (accounts["two_claims"].pk, claims["a"].pk, Decimal("-100.00")),
        (accounts["two_claims"].pk, claims["b"].pk, Decimal("-50.00")),
        (accounts["paid_down"].pk, claims["c"].pk, Decimal("-50.00")),
        (accounts["unclaimed"].pk, None, Decimal("-20.00")),
    ]
    assert {(e.kind, e.context, e.description) for e in coupons} == {
        (Kind.CREDIT, LedgerEntry.Context.BULK, "Write Off Balances: Aged debt")
    }
    assert audit(operation, "ledger.credit") == {
        accounts["two_claims"].pk: {"current_balance": ["150.00", "0.00"]},
        accounts["paid_down"].pk: {"current_balance": ["50.00", "0.00"]},
        accounts["unclaimed"].pk: {"current_balance": ["20.00", "0.00"]},
    }
    assert audit(operation, "claim.written_off") == {
        claims["a"].pk: {"status": ["open", "written_off"]},
        claims["b"].pk: {"status": ["open", "written_off"]},
    }
    assert get_action("write_off").full_description(operation.parameters) == (
        "Write Off Balances (Aged debt)"
    )


def test_a_single_write_off_is_manual_and_carries_no_operation(supervisor, ledger):
    account = ledger["accounts"]["unclaimed"]
    outcomes = write_off_balances(actor=supervisor, account_ids=[account.pk])
    assert not outcomes.skipped
    [coupon] = LedgerEntry.objects.filter(account=account, kind=Kind.CREDIT)
    assert (coupon.context, coupon.bulk_operation) == (LedgerEntry.Context.MANUAL, None)


def test_writing_off_twice_skips_the_second_time(supervisor, ledger):
    accounts = list(ledger["accounts"].values())
    run(supervisor, "write_off", accounts, {})
    entries = LedgerEntry.objects.count()
    again = run(supervisor, "write_off", accounts, {})
    assert (again.succeeded, again.skipped) == (0, 5)
    assert LedgerEntry.objects.count() == entries
    assert find_balance_discrepancies() == []


def test_only_those_with_the_permission_see_or_start_it(client, supervisor, collector, ledger):
    def allowed(user):
        return {b.key: b.allowed for b in toolbar_for(user, "accounts")}["write_off"]

    assert allowed(supervisor) and not allowed(collector)
    client.force_login(collector)
    response = client.get(reverse("bulkops:action-dialog", args=["write_off"]))
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="claim.written_off").exists()


# --- maker-checker: above the company's limit, a second person approves -----------------


def test_a_write_off_above_the_company_s_limit_waits_for_a_second_person(
    supervisor, company, ledger
):
    from billing.models import BillingPolicy
    from bulkops import services as engine_services
    from tests.bulkops.test_actions import start
    from tests.factories import UserFactory

    accounts = list(ledger["accounts"].values())  # 150 + 50 + 20 owed: 220
    BillingPolicy.objects.create(company=company, approval_above=Decimal("219.99"))
    operation = start(supervisor, "write_off", accounts, {})
    assert operation.status == "pending_approval"
    assert operation.approval_reason == (
        "It writes off $220.00, more than the $219.99 your company writes off without a "
        "second person's approval."
    )
    assert engine_services.run_operation(operation.pk) == "waiting"
    assert not LedgerEntry.objects.filter(bulk_operation=operation).exists()
    with pytest.raises(engine_services.OperationRefused):
        engine_services.approve(user=supervisor, operation=operation)  # its own requester
    checker = UserFactory(username="checker", company=company, role="Supervisor")
    engine_services.approve(user=checker, operation=operation)
    assert engine_services.run_operation(operation.pk) == "finished"
    assert balances(ledger["accounts"])["two_claims"] == Decimal("0.00")
    assert find_balance_discrepancies() == []

    # At the limit, or with no limit, it runs at once.
    charge(ledger["accounts"]["paid_up"], "219.99")
    at_limit = start(supervisor, "write_off", [ledger["accounts"]["paid_up"]], {})
    assert at_limit.status == "queued"
