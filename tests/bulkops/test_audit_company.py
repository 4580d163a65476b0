"""Every audit event carries the company it belongs to: the owner of the row
it is about (an account's owner even when a granted company changed it, a
payment's account's owner, a user's company), else the actor's. A company's
audit log is its own events, one index range, counted up to a cap."""

import pytest
from django.urls import reverse

from accounts import services as account_services
from accounts.models import AccountAccess
from accounts.roles import SUPERVISOR
from billing.services import credit_payments, record_payment
from bulkops.models import AuditEvent
from bulkops.services import record_audit_event, record_audit_events
from tests.factories import UserFactory, create_accounts

pytestmark = pytest.mark.django_db


def companies(action):
    return set(AuditEvent.objects.filter(action=action).values_list("company_id", flat=True))


def test_set_based_events_belong_to_the_rows_owner(company, other_company, supervisor):
    ours = create_accounts(2, company=company)
    theirs = create_accounts(1, company=other_company)
    AccountAccess.objects.create(company=company, account=theirs[0])
    account_services.update_stage(
        actor=supervisor, account_ids=[a.pk for a in ours + theirs], stage="sent"
    )
    by_account = dict(
        AuditEvent.objects.filter(action="account.stage_updated").values_list(
            "object_id", "company_id"
        )
    )
    assert by_account == {
        ours[0].pk: company.pk,
        ours[1].pk: company.pk,
        theirs[0].pk: other_company.pk,
    }


def test_batched_and_single_events_too(company, other_company, supervisor):
    [theirs] = create_accounts(1, company=other_company)
    record_audit_events(
        actor=supervisor, action="x.batch", model=type(theirs), changes_by_id=[(theirs.pk, {})]
    )
    assert companies("x.batch") == {other_company.pk}
    payment = record_payment(account=theirs, amount="10.00")
    credit_payments(actor=supervisor, account_ids=[theirs.pk], collector=supervisor)
    assert companies("payment.recorded") == companies("payment.credited") == {other_company.pk}
    record_audit_event(actor=supervisor, action="x.single", obj=payment, changes={})
    assert companies("x.single") == {other_company.pk}


def test_an_object_without_a_company_belongs_to_the_actors(company, supervisor):
    from django.contrib.auth.models import Group

    record_audit_event(actor=supervisor, action="x.group", obj=Group.objects.first(), changes={})
    assert companies("x.group") == {company.pk}


def test_the_log_shows_only_the_companys_events(client, company, other_company, supervisor):
    ours = create_accounts(3, company=company)
    theirs = create_accounts(2, company=other_company)
    outsider = UserFactory(company=other_company, role=SUPERVISOR)
    account_services.update_stage(actor=supervisor, account_ids=[a.pk for a in ours], stage="sent")
    account_services.update_stage(actor=outsider, account_ids=[a.pk for a in theirs], stage="sent")
    client.force_login(supervisor)
    page = client.get(reverse("bulkops:audit-log")).content.decode()
    assert all(a.file_number in page for a in ours)
    assert not any(a.file_number in page for a in theirs)
    # The row's name links to its page.
    assert f'href="{reverse("accounts:detail", args=[ours[-1].pk])}"' in page


def test_a_long_list_counts_up_to_its_cap(rf, company, supervisor):
    from common.paging import paginate

    create_accounts(5, company=company)
    listing = paginate(rf.get("/", {"page": "2"}), AuditEvent.objects.none(), per_page=1, cap=2)
    assert listing.total_label == "0"
    account_services.update_stage(
        actor=supervisor, account_ids=list(company.owned_accounts.values_list("pk", flat=True)),
        stage="sent",
    )  # fmt: skip
    events = AuditEvent.objects.order_by("pk")
    listing = paginate(rf.get("/", {"page": "2", "q": "x"}), events, per_page=1, cap=2)
    assert (listing.total_label, listing.pages_label, listing.query) == ("more than 2", "3+", "q=x")
    exact = paginate(rf.get("/"), events, per_page=2)
    assert (exact.total_label, exact.pages_label) == ("5", "3")
