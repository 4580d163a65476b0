"""Undo of Change Status To, Update Stage and Assign To: each changed field
put back only where it still holds the operation's value; an account
changed since is skipped with who and when; undoing the undo redoes."""

import uuid

import pytest

from accounts import services as account_services
from accounts.models import Account, AccountStatus
from accounts.roles import COLLECTOR
from bulkops import services
from bulkops.models import BulkOperationItem
from bulkops.selection import Selection
from tests.factories import AccountStatusFactory, UserFactory, create_accounts

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(company):
    return create_accounts(3, company=company)


def run(user, accounts, action, data):
    operation = services.start_operation(
        user=user,
        action_key=action,
        selection=Selection("accounts", ids=frozenset(a.pk for a in accounts)),
        confirmed_count=len(accounts),
        data=data,
        idempotency_key=uuid.uuid4().hex,
    )
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    return operation


def undo(user, operation):
    undoing = services.start_undo(user=user, operation=operation)
    services.run_operation(undoing.pk)
    undoing.refresh_from_db()
    return undoing


def values(accounts, field):
    return list(
        Account.objects.filter(pk__in=[a.pk for a in accounts])
        .order_by("pk")
        .values_list(field, flat=True)
    )


def reasons(operation):
    return dict(
        BulkOperationItem.objects.filter(operation=operation).values_list("target_id", "reason")
    )


def test_undo_of_change_status_skips_what_changed_since(supervisor, accounts, company):
    before = values(accounts, "status")
    promised = AccountStatusFactory(name="Promise", company=None)
    disputed = AccountStatusFactory(name="Disputed", company=None)
    operation = run(supervisor, accounts, "change_status", {"status": promised.pk})
    assert values(accounts, "status") == [promised.pk] * 3
    someone = UserFactory(company=company, role=COLLECTOR, first_name="Sam", last_name="Else")
    account_services.change_status(actor=someone, account_ids=[accounts[2].pk], status=disputed)
    assert services.may_undo(supervisor, operation)

    undoing = undo(supervisor, operation)
    assert values(accounts, "status") == [before[0], before[1], disputed.pk]
    reason = reasons(undoing)[accounts[2].pk]
    assert reason.startswith("changed since by Sam Else at ")
    assert not services.may_undo(supervisor, operation)  # once

    # Undo of the undo redoes (where the undo's values still hold).
    redo = undo(supervisor, undoing)
    assert values(accounts, "status") == [promised.pk, promised.pk, disputed.pk]
    assert redo.kind == "change_status_undo"


def test_undo_of_a_default_status_clears_the_default_date_it_set(supervisor, accounts):
    in_default = AccountStatusFactory(name="In default", category=AccountStatus.Category.DEFAULT)
    Account.objects.filter(pk__in=[a.pk for a in accounts]).update(default_date=None)
    operation = run(supervisor, accounts, "change_status", {"status": in_default.pk})
    assert all(values(accounts, "default_date"))
    undo(supervisor, operation)
    assert values(accounts, "default_date") == [None] * 3


def test_undo_of_update_stage_and_assign_to(supervisor, accounts, company):
    operation = run(supervisor, accounts, "stage", {"stage": "sent"})
    undo(supervisor, operation)
    assert values(accounts, "stage") == ["not_set"] * 3

    collector = UserFactory(company=company, role=COLLECTOR)
    assignments = f'[{{"collector": "{collector.pk}", "count": 3}}]'
    operation = run(
        supervisor, accounts, "assign", {"assignments": assignments, "credit_payments": "off"}
    )
    assert values(accounts, "assigned_to") == [collector.pk] * 3
    undo(supervisor, operation)
    assert values(accounts, "assigned_to") == [None] * 3


def test_undo_needs_the_action_s_permission(collector, supervisor, accounts):
    operation = run(supervisor, accounts, "stage", {"stage": "sent"})
    assert not services.may_undo(collector, operation)
    with pytest.raises(services.OperationRefused):
        services.start_undo(user=collector, operation=operation)


def test_undo_of_flags_puts_each_account_s_flags_back(supervisor, accounts, company):
    from accounts.models import AccountFlag
    from tests.factories import FlagFactory

    old, new = FlagFactory(name="Old flag"), FlagFactory(name="New flag")
    AccountFlag.objects.bulk_create(AccountFlag(account=a, flag=old) for a in accounts)
    operation = run(supervisor, accounts, "flags", {"add": [new.pk], "remove": [old.pk]})

    def flags(account):
        return set(AccountFlag.objects.filter(account=account).values_list("flag__name", flat=True))

    assert [flags(a) for a in accounts] == [{"New flag"}] * 3
    someone = UserFactory(company=company, role=COLLECTOR, first_name="Flo", last_name="Ag")
    account_services.change_flags(
        actor=someone, account_ids=[accounts[0].pk], add=[], remove_ids=[new.pk]
    )
    undoing = undo(supervisor, operation)
    assert [flags(a) for a in accounts] == [set(), {"Old flag"}, {"Old flag"}]
    assert reasons(undoing)[accounts[0].pk].startswith("changed since by Flo Ag at ")
    undo(supervisor, undoing)  # redo
    assert [flags(a) for a in accounts] == [set(), {"New flag"}, {"New flag"}]
