"""Tenant scoping: accounts_visible_to(user)."""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.models import Account
from accounts.selectors import accounts_visible_to
from tests.factories import AccountFactory, CompanyFactory, UserFactory

pytestmark = pytest.mark.django_db


def pks(queryset):
    return sorted(queryset.values_list("pk", flat=True))


@pytest.fixture
def granted(company, other_company):
    """Two accounts of ``company``, one of ``other_company``, one of
    ``company`` shared with ``other_company``, and one of a third company."""
    return {
        "ours": [AccountFactory(company=company), AccountFactory(company=company)],
        "theirs": AccountFactory(company=other_company),
        "shared": AccountFactory(company=company, shared_with=[other_company]),
        "nobody": AccountFactory(company=CompanyFactory()),
    }


def test_user_sees_only_the_accounts_their_company_owns_or_was_granted(granted, collector):
    expected = sorted([a.pk for a in granted["ours"]] + [granted["shared"].pk])
    assert pks(accounts_visible_to(collector)) == expected


def test_every_role_of_the_company_sees_the_same_accounts(
    granted, collector, supervisor, admin_user
):
    seen = {
        user.username: pks(accounts_visible_to(user))
        for user in (collector, supervisor, admin_user)
    }
    assert len(seen["collector"]) == 3
    assert seen["collector"] == seen["supervisor"] == seen["admin"]


def test_user_of_another_company_sees_none_of_ours(granted, other_company):
    outsider = UserFactory(company=other_company, role="Supervisor")
    visible = pks(accounts_visible_to(outsider))
    # Owns "theirs"; was granted "shared".
    assert visible == sorted([granted["theirs"].pk, granted["shared"].pk])
    assert not set(visible) & {a.pk for a in granted["ours"]}


def test_user_of_a_company_without_accounts_sees_nothing(granted):
    lonely = UserFactory(company=CompanyFactory(), role="Admin")
    assert pks(accounts_visible_to(lonely)) == []


def test_shared_account_appears_once(granted, collector):
    visible = list(accounts_visible_to(collector).values_list("pk", flat=True))
    assert visible.count(granted["shared"].pk) == 1
    assert accounts_visible_to(collector).count() == 3


def test_user_without_company_sees_nothing(granted):
    user = UserFactory(company=None, role="Admin")
    assert pks(accounts_visible_to(user)) == []


def test_inactive_user_sees_nothing(granted, company):
    user = UserFactory(company=company, role="Supervisor", is_active=False)
    assert pks(accounts_visible_to(user)) == []


def test_anonymous_user_sees_nothing(granted):
    assert pks(accounts_visible_to(AnonymousUser())) == []


def test_superuser_sees_every_account(granted):
    operator = UserFactory(company=None, is_superuser=True, is_staff=True)
    assert pks(accounts_visible_to(operator)) == pks(Account.objects.all())
    assert accounts_visible_to(operator).count() == 5


def test_scoped_queryset_can_be_filtered_further(granted, collector):
    first = granted["ours"][0]
    assert pks(accounts_visible_to(collector).filter(file_number=first.file_number)) == [first.pk]
    theirs = granted["theirs"]
    assert pks(accounts_visible_to(collector).filter(file_number=theirs.file_number)) == []
