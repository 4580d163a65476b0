"""The account changes bulk actions and the account page share
(accounts.services), called directly: set-based, audited, and refusing the
same accounts whoever calls them."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Account, AccountStatus
from accounts.roles import COLLECTOR
from bulkops.models import AuditEvent
from tests.factories import AccountStatusFactory, FlagFactory, UserFactory, create_accounts

pytestmark = pytest.mark.django_db


def events(action):
    return {e.object_id: e.changes for e in AuditEvent.objects.filter(action=action)}


def test_assign_accounts_skips_those_already_assigned(company, supervisor):
    alice = UserFactory(company=company, role=COLLECTOR)
    mine, other = create_accounts(2, company=company)
    Account.objects.filter(pk=mine.pk).update(assigned_to=alice)
    outcomes = services.assign_accounts(
        actor=supervisor, account_ids=[mine.pk, other.pk], collector=alice
    )
    assert dict(outcomes.skipped) == {f"Already assigned to {alice}": {mine.pk}}
    assert Account.objects.get(pk=other.pk).assigned_to == alice
    assert events("account.assigned") == {other.pk: {"assigned_to": [None, alice.pk]}}


def test_change_status_skips_terminated_accounts_and_dates_a_default(company, supervisor):
    in_default = AccountStatusFactory(name="In Default", category=AccountStatus.Category.DEFAULT)
    closed = AccountStatusFactory(name="Terminated", category=AccountStatus.Category.TERMINATED)
    fresh, already_dated, terminated = create_accounts(3, company=company)
    Account.objects.filter(pk=already_dated.pk).update(default_date=dt.date(2025, 1, 2))
    Account.objects.filter(pk=terminated.pk).update(status=closed)

    outcomes = services.change_status(
        actor=supervisor,
        account_ids=[fresh.pk, already_dated.pk, terminated.pk],
        status=in_default,
    )

    assert dict(outcomes.skipped) == {"Account is terminated": {terminated.pk}}
    statuses = dict(Account.objects.values_list("pk", "status_id"))
    assert statuses == {
        fresh.pk: in_default.pk,
        already_dated.pk: in_default.pk,
        terminated.pk: closed.pk,
    }
    dates = dict(Account.objects.values_list("pk", "default_date"))
    assert dates[fresh.pk] == timezone.localdate()
    assert dates[already_dated.pk] == dt.date(2025, 1, 2)
    assert set(events("account.status_changed")) == {fresh.pk, already_dated.pk}
    assert set(events("account.default_date_set")) == {fresh.pk}


def test_update_stage_and_change_flags(company, supervisor):
    first, second = create_accounts(2, company=company)
    Account.objects.filter(pk=second.pk).update(stage="sent")
    outcomes = services.update_stage(
        actor=supervisor, account_ids=[first.pk, second.pk], stage="sent"
    )
    assert dict(outcomes.skipped) == {"Already Sent": {second.pk}}

    vip, dispute = FlagFactory(name="VIP"), FlagFactory(name="Dispute")
    first.flags.add(dispute)
    outcomes = services.change_flags(
        actor=supervisor, account_ids=[first.pk, second.pk], add=[vip], remove_ids=[dispute.pk]
    )
    assert not outcomes.skipped
    assert set(first.flags.values_list("name", flat=True)) == {"VIP"}
    assert events("account.flags_changed")[first.pk] == {"flags": [["Dispute"], ["VIP"]]}
    again = services.change_flags(
        actor=supervisor, account_ids=[first.pk], add=[vip], remove_ids=[dispute.pk]
    )
    assert dict(again.skipped) == {"Flags already as requested": {first.pk}}
