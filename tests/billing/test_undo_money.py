"""Undo of the money actions and of Bulk Freeze: Write Off Balances undone
by a reversing debit, fees by reversing the fee and closing its invoice,
never by deleting a line; the balances reconcile with the ledger after
each step; undoing the undo redoes; a fee paid since is skipped with who
and when; a freeze rolled back, and frozen again by the redo."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.urls import reverse

from accounts.models import Account
from billing.models import AccountFreeze, Claim, LedgerEntry, ServiceType, Subscription
from billing.selectors import find_balance_discrepancies
from billing.services import post_payment, record_payment
from bulkops import services
from bulkops.models import BulkOperation
from tests.accounts.test_undo import undo
from tests.billing.test_add_fees import confirm, fields, select, verify
from tests.billing.test_freeze import freeze, reason, statuses  # noqa: F401
from tests.billing.test_write_off import charge
from tests.bulkops.test_actions import outcome_of, run
from tests.factories import UserFactory, create_accounts

pytestmark = pytest.mark.django_db


def balance(account):
    return Account.objects.get(pk=account.pk).current_balance


def test_write_off_undone_by_a_reversing_debit_and_redone(supervisor, company):
    owing, nothing = create_accounts(2, company=company)
    claim = charge(owing, "120.00")
    operation = run(supervisor, "write_off", [owing, nothing], {"note": "Settled"})
    assert balance(owing) == D("0.00")
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.WRITTEN_OFF
    lines = LedgerEntry.objects.count()

    undoing = undo(supervisor, operation)
    assert undoing.succeeded == 1
    assert balance(owing) == D("120.00")
    reversal = LedgerEntry.objects.get(bulk_operation=undoing)
    assert reversal.amount == D("120.00") and reversal.kind == LedgerEntry.Kind.ADJUSTMENT
    assert reversal.reverses.bulk_operation_id == operation.pk
    assert reversal.claim_id == claim.pk
    assert LedgerEntry.objects.count() == lines + 1  # nothing deleted
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.OPEN
    assert Claim.objects.get(pk=claim.pk).balance == D("120.00")
    assert find_balance_discrepancies() == []
    assert not services.may_undo(supervisor, operation)  # once

    redo = undo(supervisor, undoing)
    assert balance(owing) == D("0.00")
    again = LedgerEntry.objects.get(bulk_operation=redo)
    assert again.kind == LedgerEntry.Kind.CREDIT and again.amount == D("-120.00")
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.WRITTEN_OFF
    assert find_balance_discrepancies() == []


def test_redoing_a_write_off_over_the_limit_waits_for_approval(supervisor, company):
    from billing.models import BillingPolicy

    (owing,) = create_accounts(1, company=company)
    charge(owing, "120.00")
    operation = run(supervisor, "write_off", [owing], {})
    BillingPolicy.objects.create(company=company, approval_above=D("100.00"))
    undoing = undo(supervisor, operation)  # putting balances back needs no approval
    assert undoing.status == "succeeded" and balance(owing) == D("120.00")

    redo = services.start_undo(user=supervisor, operation=undoing)
    assert redo.status == "pending_approval"
    assert redo.approval_reason.startswith("It writes off $120.00, more than the $100.00")
    assert services.run_operation(redo.pk) == "waiting"
    assert balance(owing) == D("120.00")  # nothing written off yet
    with pytest.raises(services.OperationRefused):
        services.approve(user=supervisor, operation=redo)  # its own requester
    checker = UserFactory(username="checker", company=company, role="Supervisor")
    services.approve(user=checker, operation=redo)
    assert services.run_operation(redo.pk) == "finished"
    assert balance(owing) == D("0.00")
    assert find_balance_discrepancies() == []


def test_a_payment_after_the_write_off_stays(supervisor, company):
    (owing,) = create_accounts(1, company=company)
    charge(owing, "100.00")
    operation = run(supervisor, "write_off", [owing], {})
    payment = record_payment(account=owing, amount="30.00")
    post_payment(payment=payment)
    assert balance(owing) == D("-30.00")
    undo(supervisor, operation)
    assert balance(owing) == D("70.00")
    assert find_balance_discrepancies() == []


@pytest.fixture
def fee_type(db):
    return ServiceType.objects.get(company=None, name="Fee")


def add_fees(client, supervisor, accounts, fee_type):
    client.force_login(supervisor)
    select(client, accounts)
    data = fields(fee_type, mode="fixed", amount="25.00", percentage="")
    preview = verify(client, data)
    assert preview.status_code == 200, preview.content.decode()[:500]
    response = confirm(client, data, preview, len(accounts))
    assert response.status_code in (200, 302)
    operation = BulkOperation.objects.get(kind="add_fees")
    assert services.run_operation(operation.pk) == "finished"
    operation.refresh_from_db()
    return operation


def test_fees_undone_by_reversing_the_fee_and_closing_its_invoice(
    client, supervisor, company, fee_type
):
    accounts = create_accounts(3, company=company)
    for account in accounts:
        charge(account, "100.00")
    operation = add_fees(client, supervisor, accounts, fee_type)
    assert operation.succeeded == 3
    invoices = {e.account_id: e.claim for e in LedgerEntry.objects.filter(bulk_operation=operation)}
    # The third customer pays the fee's invoice in between: it stays.
    paid = accounts[2]
    teller = UserFactory(company=company, first_name="Tess", last_name="Teller")
    payment = record_payment(account=paid, amount="25.00", claim=invoices[paid.pk])
    post_payment(payment=payment, actor=teller)

    undoing = undo(supervisor, operation)
    assert undoing.succeeded == 2 and undoing.skipped == 1
    settled, reason_text = outcome_of(undoing, paid)
    assert settled == "skipped" and reason_text.startswith("changed since by Tess Teller at ")
    for account in accounts[:2]:
        assert balance(account) == D("100.00")
        invoice = Claim.objects.get(pk=invoices[account.pk].pk)
        assert invoice.balance == D("0.00") and invoice.status == Claim.Status.CANCELLED
    assert Claim.objects.get(pk=invoices[paid.pk].pk).status != Claim.Status.CANCELLED
    assert LedgerEntry.objects.filter(bulk_operation=operation).count() == 3  # kept
    assert find_balance_discrepancies() == []

    redo = undo(supervisor, undoing)
    assert redo.succeeded == 2
    for account in accounts[:2]:
        assert balance(account) == D("125.00")
        assert Claim.objects.get(pk=invoices[account.pk].pk).status == Claim.Status.OPEN
    assert find_balance_discrepancies() == []


def test_bulk_freeze_undone_and_redone(supervisor, company, statuses, reason):  # noqa: F811
    accounts = create_accounts(3, company=company, status=statuses["active"])
    for account in accounts:
        Subscription.objects.create(account=account, service_name="Fibre 100")
    operation = freeze(supervisor, accounts, statuses, reason)
    assert operation.succeeded == 3
    # Someone moves one account out of the frozen status by hand.
    from accounts import services as account_services

    someone = UserFactory(company=company, first_name="Sam", last_name="Else")
    account_services.change_status(
        actor=someone, account_ids=[accounts[2].pk], status=statuses["promise"]
    )

    undoing = undo(supervisor, operation)
    assert undoing.succeeded == 2 and undoing.skipped == 1
    assert outcome_of(undoing, accounts[2])[1].startswith("changed since by Sam Else at ")
    for account in accounts[:2]:
        assert Account.objects.get(pk=account.pk).status_id == statuses["active"].pk
        assert Subscription.objects.get(account=account).status == Subscription.Status.ACTIVE

    redo = undo(supervisor, undoing)
    assert redo.kind == "bulk_freeze_redo" and redo.succeeded == 2
    for account in accounts[:2]:
        assert Account.objects.get(pk=account.pk).status_id == statuses["frozen"].pk
        assert AccountFreeze.objects.filter(account=account, rolled_back_at=None).exists()
    # And the redo can be undone in turn.
    assert undo(supervisor, redo).succeeded == 2


def test_the_page_offers_undo_of_money_and_none_for_exports(client, supervisor, company):
    (owing,) = create_accounts(1, company=company)
    charge(owing, "10.00")
    operation = run(supervisor, "write_off", [owing], {})
    client.force_login(supervisor)
    page = client.get(reverse("bulkops:operation-detail", args=[operation.pk])).content.decode()
    assert f'action="/bulk/{operation.pk}/undo/"' in page


def test_a_collector_may_not_undo_a_write_off(client, collector, supervisor, company):
    (owing,) = create_accounts(1, company=company)
    charge(owing, "10.00")
    operation = run(supervisor, "write_off", [owing], {})
    assert not services.may_undo(collector, operation)
    client.force_login(collector)
    response = client.post(reverse("bulkops:operation-undo", args=[operation.pk]))
    assert response.status_code in (302, 403, 404)
    assert not BulkOperation.objects.filter(undoes=operation).exists()
