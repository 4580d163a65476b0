"""Promises to pay: made on one of the account's claims, settled by the daily
task with the clock moved: kept when the payments posted since cover the
amount by the end of the due date (in the office's zone), broken otherwise,
with a task for the assigned collector when the company asks for one."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Task, WorkQueue
from billing import promises
from billing import services as billing
from billing.models import BillingPolicy, LedgerEntry, PromiseToPay
from bulkops.models import AuditEvent
from tests.factories import AccountFactory, ClaimFactory, OfficeFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture
def account(company, collector):
    office = OfficeFactory(company=company, timezone="America/Los_Angeles")
    account = AccountFactory(company=company, office=office, assigned_to=collector)
    return account


@pytest.fixture
def claim(account):
    claim = ClaimFactory(account=account, reference="INV-77")
    billing.post_ledger_entry(account=account, kind="charge", amount=Decimal("300"), claim=claim)
    return claim


def promise(collector, account, claim, amount="100.00", due=TODAY + dt.timedelta(days=3)):
    return promises.create_promise(
        actor=collector, account=account, claim=claim, amount=amount, due_date=due
    )


def pay(account, claim, amount, at):
    """A payment on the claim, posted at ``at`` (the clock moved)."""
    payment = billing.record_payment(account=account, claim=claim, amount=Decimal(amount))
    entry = billing.post_payment(payment=payment)
    LedgerEntry.objects.filter(pk=entry.pk).update(posted_at=at)


def test_a_promise_is_recorded_and_audited(collector, account, claim):
    made = promise(collector, account, claim)
    assert (made.amount, made.state, made.claim) == (Decimal("100.00"), "pending", claim)
    assert AuditEvent.objects.filter(action="promise.created", object_id=made.pk).exists()


@pytest.mark.parametrize(
    "amount, due",
    [("-5", TODAY + dt.timedelta(days=2)), ("0", TODAY), ("10", TODAY - dt.timedelta(days=1))],
)
def test_a_negative_amount_or_a_past_date_is_refused(collector, account, claim, amount, due):
    with pytest.raises(ValidationError):
        promise(collector, account, claim, amount=amount, due=due)
    assert not PromiseToPay.objects.exists()


def test_another_account_s_claim_or_account_is_refused(collector, account, company, other_company):
    elsewhere = ClaimFactory(account=AccountFactory(company=company))
    with pytest.raises(ValidationError):
        promise(collector, account, elsewhere)
    theirs = AccountFactory(company=other_company)
    with pytest.raises(PermissionDenied):
        promise(collector, theirs, ClaimFactory(account=theirs))
    assert not PromiseToPay.objects.exists()


def test_payments_that_cover_it_keep_it_before_its_date(collector, account, claim):
    made = promise(collector, account, claim)
    pay(account, claim, "60", timezone.now())
    assert promises.settle_promises() == {"kept": 0, "broken": 0}
    pay(account, claim, "40", timezone.now())
    assert promises.settle_promises() == {"kept": 1, "broken": 0}
    made.refresh_from_db()
    assert (made.state, made.paid_amount) == ("kept", Decimal("100.00"))
    assert AuditEvent.objects.filter(action="promise.kept", object_id=made.pk).exists()


def test_it_is_broken_the_day_after_its_due_date_in_the_office_s_zone(collector, account, claim):
    due = TODAY + dt.timedelta(days=3)
    made = promise(collector, account, claim, due=due)
    pay(account, claim, "30", timezone.now())
    # The due date's last hour in Los Angeles: still pending.
    end = dt.datetime.combine(
        due + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo("America/Los_Angeles")
    )
    assert promises.settle_promises(now=end - dt.timedelta(minutes=1))["broken"] == 0
    # A payment after the day ended does not count.
    pay(account, claim, "70", end + dt.timedelta(minutes=5))
    assert promises.settle_promises(now=end + dt.timedelta(minutes=10)) == {
        "kept": 0,
        "broken": 1,
    }
    made.refresh_from_db()
    assert (made.state, made.paid_amount) == ("broken", Decimal("30.00"))
    # Settled once: a second run leaves it alone.
    assert promises.settle_promises(now=end + dt.timedelta(days=1)) == {"kept": 0, "broken": 0}


def test_payments_before_the_promise_was_made_do_not_count(collector, account, claim):
    pay(account, claim, "100", timezone.now() - dt.timedelta(hours=1))
    made = promise(collector, account, claim, due=TODAY)
    later = timezone.now() + dt.timedelta(days=2)
    assert promises.settle_promises(now=later) == {"kept": 0, "broken": 1}
    made.refresh_from_db()
    assert made.paid_amount == Decimal("0.00")


def test_a_broken_promise_makes_a_task_for_the_collector_when_asked(
    collector, account, claim, company
):
    queue = WorkQueue.objects.create(company=company, name="Broken promises")
    queue.members.add(collector)
    BillingPolicy.objects.create(
        company=company, task_on_broken_promise=True, broken_promise_queue=queue
    )
    promise(collector, account, claim, due=TODAY)
    later = timezone.now() + dt.timedelta(days=2)
    promises.settle_promises(now=later)
    task = Task.objects.get()
    assert (task.queue, task.assignee, task.tags) == (queue, collector, ["Broken promise"])


def test_no_task_without_the_company_setting(collector, account, claim):
    promise(collector, account, claim, due=TODAY)
    promises.settle_promises(now=timezone.now() + dt.timedelta(days=2))
    assert not Task.objects.exists()


def test_the_page_records_a_promise_and_the_account_shows_it(client, collector, account, claim):
    client.force_login(collector)
    response = client.post(
        reverse("billing:promise-create", args=[account.pk]),
        {"claim": claim.pk, "amount": "125.50", "due_date": (TODAY + dt.timedelta(days=7))},
    )
    assert response.status_code == 302
    html = client.get(reverse("accounts:detail", args=[account.pk])).content.decode()
    assert "Recent payment agreements" in html and "125.50" in html


def test_the_page_refuses_a_negative_amount(client, collector, account, claim):
    client.force_login(collector)
    response = client.post(
        reverse("billing:promise-create", args=[account.pk]),
        {"claim": claim.pk, "amount": "-1", "due_date": TODAY.isoformat()},
    )
    assert response.status_code == 200 and not PromiseToPay.objects.exists()
