"""The Approvals page: every operation of the company waiting for approval,
whatever its action; approve or reject several at once through the same
service as an operation's page, so nobody decides their own request, a
rejection needs a reason, and another company's operations are out of
reach."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from bulkops.models import BulkOperation
from communications.services import save_template
from tests.communications.test_schedule_emails import start
from tests.factories import AccountFactory, DebtorEmailFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = BulkOperation.Status


@pytest.fixture
def batches(company, other_company):
    """Two batches of our collector waiting, and one of another company's."""
    collector = UserFactory(company=company, role=COLLECTOR)
    admin = UserFactory(company=company, role=ADMIN)
    template = save_template(
        user=admin, channel="email", name="T", subject="s", text_body="b {{optOutLink}}"
    )
    account = AccountFactory(company=company)
    DebtorEmailFactory(debtor=account.debtor)
    later = timezone.now() + dt.timedelta(hours=2)
    ours = [start(collector, [account], template, later) for _ in range(2)]
    their_collector = UserFactory(company=other_company, role=COLLECTOR)
    their_admin = UserFactory(company=other_company, role=ADMIN)
    their_template = save_template(
        user=their_admin, channel="email", name="T", subject="s", text_body="b {{optOutLink}}"
    )
    their_account = AccountFactory(company=other_company)
    theirs = start(their_collector, [their_account], their_template, later)
    return {"collector": collector, "ours": ours, "theirs": theirs}


def test_the_page_lists_the_companys_waiting_operations(client, company, batches):
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    client.force_login(supervisor)
    content = client.get(reverse("bulkops:approvals")).content.decode()
    for operation in batches["ours"]:
        assert f'name="operation" value="{operation.pk}"' in content
    assert f"#{batches['theirs'].pk} ·" not in content


def test_a_supervisor_approves_several_at_once(client, company, batches):
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    client.force_login(supervisor)
    ids = [str(o.pk) for o in batches["ours"]] + [str(batches["theirs"].pk)]
    response = client.post(
        reverse("bulkops:approvals"), {"operation": ids, "decision": "approve"}, follow=True
    )
    assert "Approved 2 operations." in response.content.decode()
    statuses = dict(BulkOperation.objects.values_list("pk", "status"))
    assert [statuses[o.pk] for o in batches["ours"]] == [Status.SCHEDULED, Status.SCHEDULED]
    assert statuses[batches["theirs"].pk] == Status.PENDING_APPROVAL  # not ours: untouched


def test_rejecting_needs_a_reason(client, company, batches):
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    client.force_login(supervisor)
    [first, _] = batches["ours"]
    url = reverse("bulkops:approvals")
    response = client.post(url, {"operation": [first.pk], "decision": "reject"}, follow=True)
    assert "Say why it is rejected." in response.content.decode()
    first.refresh_from_db()
    assert first.status == Status.PENDING_APPROVAL
    client.post(url, {"operation": [first.pk], "decision": "reject", "reason": "Wrong template"})
    first.refresh_from_db()
    assert (first.status, first.decision_note) == (Status.REJECTED, "Wrong template")


def test_the_requester_sees_their_batches_but_cannot_decide_them(client, batches):
    client.force_login(batches["collector"])
    content = client.get(reverse("bulkops:approvals")).content.decode()
    assert "Yours: another person approves it." in content
    assert 'name="operation"' not in content  # nothing to tick
    ids = [o.pk for o in batches["ours"]]
    response = client.post(
        reverse("bulkops:approvals"), {"operation": ids, "decision": "approve"}, follow=True
    )
    assert "You cannot approve or reject your own request." in response.content.decode()
    assert set(BulkOperation.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Status.PENDING_APPROVAL
    }


def test_nothing_ticked_or_an_unknown_decision_is_refused(client, company, batches):
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    client.force_login(supervisor)
    url = reverse("bulkops:approvals")
    content = client.post(url, {"decision": "approve"}, follow=True).content.decode()
    assert "Tick the operations to approve or reject." in content
    ids = [o.pk for o in batches["ours"]] + ["x", "-1"]
    content = client.post(url, {"operation": ids, "decision": "sure"}, follow=True).content.decode()
    assert "Choose Approve selected or Reject selected." in content
    assert BulkOperation.objects.filter(status=Status.PENDING_APPROVAL).count() == 3
