"""Add Fees through the engine's dialog, verification and confirmation (seed
001): the verification stores each account's fee and shows the total and
who gets none; confirming applies exactly the verified amounts on new
invoices of the fee service type and skips an account whose figures
changed; bad input is refused and posts nothing; balances reconcile."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.selectable import ACCOUNTS
from billing.actions.add_fees import AddFeesForm
from billing.models import Claim, FeeVerification, LedgerEntry, ServiceType
from billing.selectors import find_balance_discrepancies
from billing.services import post_ledger_entry
from bulkops import services
from bulkops.models import BulkOperation
from bulkops.selection import Selection
from tests.bulkops.test_actions import enqueued  # noqa: F401  (the engine's queue, in-process)
from tests.factories import UserFactory, create_accounts

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def fee_type(db):
    return ServiceType.objects.get(company=None, name="Fee")


@pytest.fixture
def owing(company):
    """Three accounts owing 100.00, 55.55 and nothing."""
    made = create_accounts(3, company=company)
    for account, amount in zip(made, ("100.00", "55.55"), strict=False):
        claim = Claim.objects.create(
            account=account, reference="INV-1", original_amount=D(amount),
            due_date=timezone.localdate(),
        )  # fmt: skip
        post_ledger_entry(account=account, kind=LedgerEntry.Kind.CHARGE, amount=amount, claim=claim)
    return made


def select(client, accounts):
    session = client.session
    session[ACCOUNTS.session_key] = Selection(
        "accounts", ids=frozenset(a.pk for a in accounts)
    ).to_dict()
    session.save()


def fields(fee_type, **overrides):
    data = {
        "service_type": str(fee_type.pk), "apply_to": "billing", "mode": "balance",
        "amount": "", "percentage": "10", "as_of": "", "state": "", "idempotency_key": "k-fees",
    }  # fmt: skip
    data.update(overrides)
    return data


def verify(client, data):
    return client.post(reverse("bulkops:action-preview", args=["add_fees"]), data)


def confirm(client, data, preview, count):
    token = preview.context["preview_token"]
    return client.post(
        reverse("bulkops:action-confirm", args=["add_fees"]),
        {**data, "confirmed_count": str(count), "preview_token": token},
    )


def test_verification_then_confirmation_applies_the_verified_fees(
    client, supervisor, owing, fee_type
):
    client.force_login(supervisor)
    select(client, owing)
    dialog = client.get(reverse("bulkops:action-dialog", args=["add_fees"])).content.decode()
    assert "Proceed to Verification" in dialog and "Fee Service Type" in dialog
    data = fields(fee_type)
    preview = verify(client, data)
    assert preview.status_code == 200
    page = preview.content.decode()
    assert '<strong data-testid="fee-accounts">2</strong>' in page
    assert "$15.56" in page  # 10.00 + 5.555 → 5.56
    assert "No balance to charge a fee on" in page
    verification = FeeVerification.objects.get()
    assert (verification.accounts, verification.with_fee, verification.total) == (3, 2, D("15.56"))

    # The second account's balance moves after the verification: it is skipped.
    post_ledger_entry(account=owing[1], kind=LedgerEntry.Kind.PAYMENT, amount="-5.55")
    response = confirm(client, data, preview, 3)
    assert response.status_code == 302
    operation = BulkOperation.objects.get(kind="add_fees")
    assert operation.total == 2  # the accounts with a fee
    assert services.run_operation(operation.pk) == "finished"
    operation.refresh_from_db()
    assert (operation.succeeded, operation.skipped) == (1, 1)
    item = operation.items.with_settled_outcome().get(target_id=owing[1].pk)
    assert item.reason == "Its figures changed since the fees were verified"
    fee = Claim.objects.get(account=owing[0], reference=f"FEE-{operation.pk}")
    assert (fee.service_type, fee.original_amount, fee.balance) == (
        fee_type,
        D("10.00"),
        D("10.00"),
    )
    assert not Claim.objects.filter(account=owing[1], reference__startswith="FEE-").exists()
    entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.FEE)
    assert list(entries.values_list("context", "bulk_operation", "amount")) == [
        (LedgerEntry.Context.BULK, operation.pk, D("10.00"))
    ]
    assert find_balance_discrepancies() == []
    # The same confirmation again (a double click) makes nothing more.
    confirm(client, data, preview, 3)
    assert BulkOperation.objects.filter(kind="add_fees").count() == 1


def test_a_confirmation_without_its_verification_is_refused(client, supervisor, owing, fee_type):
    client.force_login(supervisor)
    select(client, owing)
    data = fields(fee_type)
    preview = verify(client, data)
    # The amounts are never in the form: changing the percentage breaks the token.
    tampered = {**data, "percentage": "90"}
    response = confirm(client, tampered, preview, 3)
    assert response.status_code == 409
    assert "no longer matches" in response.content.decode()
    assert not BulkOperation.objects.exists()
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.FEE).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"mode": "fixed", "amount": "-5"}, "amount", "greater than or equal to 0.01"),
        ({"mode": "fixed", "amount": "ten"}, "amount", "Enter a number"),
        ({"percentage": "100.5"}, "percentage", "less than or equal to 100"),
        ({"percentage": ""}, "percentage", "Enter the percentage"),
        ({"mode": "invoice_total"}, "mode", "is not a fee of Billing Accounts"),
        ({"as_of": "2999-01-01"}, "as_of", "cannot be in the future"),
        ({"mode": "fixed", "amount": "5", "as_of": "2026-01-01"}, "as_of", "for % of Balance only"),
    ],
)
def test_bad_input_is_refused(supervisor, fee_type, overrides, field, message):
    data = fields(fee_type, **overrides)
    form = AddFeesForm(data, user=supervisor)
    assert not form.is_valid()
    assert message in " ".join(form.errors[field])


def test_another_company_s_service_type_is_not_offered(supervisor, other_company, fee_type):
    theirs = ServiceType.objects.create(company=other_company, name="Their fee")
    form = AddFeesForm(fields(fee_type, service_type=str(theirs.pk)), user=supervisor)
    assert not form.is_valid() and "service_type" in form.errors


def test_the_as_of_balance_and_the_pages_are_the_user_s_own(
    client, supervisor, owing, fee_type, company
):
    client.force_login(supervisor)
    select(client, owing)
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    preview = verify(client, fields(fee_type, as_of=yesterday))
    # Nothing was owed at the end of yesterday: the ledger is all today's.
    verification = FeeVerification.objects.get()
    assert verification.with_fee == 0
    assert "$0.00" in preview.content.decode()
    url = reverse("billing:fee-verification", args=[verification.pk])
    assert client.get(url, {"sort": "account", "page": "1"}).status_code == 200
    other = UserFactory(username="sam", company=company, role="Supervisor")
    client.force_login(other)
    assert client.get(url).status_code == 404


def test_only_those_with_the_permission_see_or_start_it(client, collector, owing):
    client.force_login(collector)
    assert client.get(reverse("bulkops:action-dialog", args=["add_fees"])).status_code == 403
    assert client.post(reverse("bulkops:action-preview", args=["add_fees"]), {}).status_code == 403
    assert not FeeVerification.objects.exists()


def test_fees_above_the_company_s_limit_wait_for_a_second_person(
    client, supervisor, owing, fee_type, company
):
    from billing.models import BillingPolicy

    BillingPolicy.objects.create(company=company, approval_above=D("15.00"))
    client.force_login(supervisor)
    select(client, owing)
    data = fields(fee_type)
    confirm(client, data, verify(client, data), 3)
    operation = BulkOperation.objects.get(kind="add_fees")
    assert operation.status == "pending_approval"
    assert operation.approval_reason.startswith("It adds $15.56 of fees, more than the $15.00")
    assert services.run_operation(operation.pk) == "waiting"
    with pytest.raises(services.OperationRefused):
        services.approve(user=supervisor, operation=operation)
    services.approve(user=UserFactory(username="checker", company=company, role="Supervisor"),
                     operation=operation)  # fmt: skip
    assert services.run_operation(operation.pk) == "finished"
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.FEE).count() == 2


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the SQL path of the verification is PostgreSQL's"
)
@pytest.mark.parametrize(
    ("mode", "value", "days_back", "max_fee"),
    [
        ("balance", "10", None, None),
        ("balance", "33.3333", 0, D("3.00")),
        ("balance", "4", 1, None),
        ("fixed", "7.25", None, None),
    ],
)
def test_the_sql_verification_makes_the_python_one_s_rows(
    monkeypatch, supervisor, owing, mode, value, days_back, max_fee
):
    from accounts.models import Account
    from billing import fees

    post_ledger_entry(account=owing[2], kind=LedgerEntry.Kind.PAYMENT, amount="-3.00")  # in credit
    as_of = (
        (timezone.localdate() - dt.timedelta(days=days_back)).isoformat()
        if days_back is not None
        else ""
    )
    parameters = {"mode": mode, "value": value, "as_of": as_of}
    results = []
    for in_sql in (fees.IN_SQL, ()):
        monkeypatch.setattr(fees, "IN_SQL", in_sql)
        verification = fees.verify_fees(
            user=supervisor, accounts=Account.objects.all(), parameters=parameters,
            key=str(bool(in_sql)), max_fee=max_fee,
        )  # fmt: skip
        rows = sorted(verification.rows.values_list("account_id", "amount", "basis", "reason"))
        results.append((rows, verification.accounts, verification.with_fee, verification.total))
    assert results[0] == results[1]
    assert results[0][0]
