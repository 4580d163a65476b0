"""The contact rules' configuration in the settings: a company's Admin sets
its own weekly caps and its own states' call limits, never another
company's nor the platform's, whatever it posts; every change audited."""

import pytest
from django.urls import reverse

from accounts.roles import ADMIN
from bulkops.models import AuditEvent
from communications.models import ContactPolicy, StateCallLimit
from tests.factories import CompanyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def harbor(roles):
    return CompanyFactory(name="Harbor Credit Union")


@pytest.fixture
def northwind(roles):
    return CompanyFactory(name="Northwind Recovery")


@pytest.fixture
def as_harbor_admin(client, harbor):
    client.force_login(UserFactory(company=harbor, role=ADMIN, is_staff=True))
    return client


def test_a_company_admin_adds_its_own_state_limit_whatever_it_posts(
    as_harbor_admin, harbor, northwind
):
    response = as_harbor_admin.post(
        reverse("admin:communications_statecalllimit_add"),
        {"company": northwind.pk, "state": "NY", "max_calls": 3, "days": 7},
    )
    assert response.status_code == 302
    limit = StateCallLimit.objects.get(state="NY")
    assert limit.company == harbor  # not Northwind's, not the platform's
    assert AuditEvent.objects.filter(action="statecalllimit.created").count() == 1
    # A second limit for the same state is refused with a clear message.
    again = as_harbor_admin.post(
        reverse("admin:communications_statecalllimit_add"),
        {"state": "NY", "max_calls": 2, "days": 7},
    )
    assert again.status_code == 200
    assert "This state has a limit of its own already." in again.content.decode()
    assert StateCallLimit.objects.filter(state="NY").count() == 1


def test_the_platforms_and_other_companies_limits_are_out_of_reach(as_harbor_admin, northwind):
    platform = StateCallLimit.objects.get(company=None, state="MA")  # the migration's
    theirs = StateCallLimit.objects.create(company=northwind, state="TX", max_calls=5)
    listing = as_harbor_admin.get(reverse("admin:communications_statecalllimit_changelist"))
    assert listing.status_code == 200
    for row in (platform, theirs):
        url = reverse("admin:communications_statecalllimit_change", args=[row.pk])
        assert url not in listing.content.decode()
        changed = as_harbor_admin.post(url, {"state": row.state, "max_calls": 99, "days": 7})
        assert changed.status_code == 302 and changed["Location"] == reverse("admin:index")
        row.refresh_from_db()
        assert row.max_calls != 99


def test_a_company_admin_sets_its_weekly_caps_once(as_harbor_admin, harbor):
    add = reverse("admin:communications_contactpolicy_add")
    response = as_harbor_admin.post(
        add,
        {"max_emails_per_week": 3, "max_texts_per_week": 2, "help_text": "Call 555-0100."},
    )
    assert response.status_code == 302
    policy = ContactPolicy.objects.get()
    assert (policy.company, policy.max_texts_per_week) == (harbor, 2)
    assert as_harbor_admin.get(add).status_code == 403  # one policy a company
