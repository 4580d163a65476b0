"""Credit Payments, billing's extension of Assign To: the payments of the
accounts Assign To changed follow them to the collector; an account Assign
To skipped (already that collector's) keeps its payments where they are."""

import json

import pytest
from django.contrib.auth.models import Permission

from accounts.models import Account
from accounts.roles import COLLECTOR
from billing.models import Payment
from billing.services import record_payment
from bulkops import services
from bulkops.models import AuditEvent
from bulkops.registry import extensions_of, get_action
from bulkops.selection import Selection
from tests.factories import UserFactory, create_accounts

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor(company):
    user = UserFactory(company=company)
    user.user_permissions.add(Permission.objects.get(codename="assign_accounts"))
    return user


def assign(user, accounts, collector, credit):
    operation = services.start_operation(
        user=user,
        action_key="assign",
        selection=Selection("accounts", ids=frozenset(a.pk for a in accounts)),
        confirmed_count=len(accounts),
        data={
            "assignments": json.dumps([{"collector": str(collector.pk), "count": len(accounts)}]),
            "credit_payments": credit,
        },
        idempotency_key=f"credit-{credit}-{collector.pk}",
    )
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    return operation


def test_credit_payments_extends_assign_to(supervisor):
    assert [e.key for e in extensions_of("assign")] == ["credit_payments"]
    assert "credit_payments" in get_action("assign").get_form(user=supervisor).fields


def test_a_skipped_accounts_payments_stay_where_they_are(supervisor, company):
    alice = UserFactory(company=company, role=COLLECTOR)
    bob = UserFactory(company=company, role=COLLECTOR)
    already_alices, unassigned = create_accounts(2, company=company)
    Account.objects.filter(pk=already_alices.pk).update(assigned_to=alice)
    kept = record_payment(account=already_alices, amount="25.00", credited_to=bob)
    moved = record_payment(account=unassigned, amount="40.00", credited_to=bob)

    operation = assign(supervisor, [already_alices, unassigned], alice, "all")

    assert (operation.succeeded, operation.skipped) == (1, 1)
    assert Payment.objects.get(pk=kept.pk).credited_to == bob
    assert Payment.objects.get(pk=moved.pk).credited_to == alice
    credited = AuditEvent.objects.filter(action="payment.credited", bulk_operation=operation)
    assert list(credited.values_list("object_id", flat=True)) == [moved.pk]


def test_the_description_names_the_credit(supervisor, company):
    alice = UserFactory(company=company, role=COLLECTOR, first_name="Alice", last_name="Adams")
    [account] = create_accounts(1, company=company)
    operation = assign(supervisor, [account], alice, "pending")
    description = get_action("assign").full_description(operation.parameters)
    assert description == "Assign To Alice Adams (1); crediting pending payments"
