"""The account page: the accounts app's own details, and the sections other
apps contribute (billing's Claims on Account Details, its Journal on the
Journal tab) for users who may see them."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services as billing_services
from tests.factories import AccountFactory, ClaimFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(company):
    account = AccountFactory(company=company)
    claim = ClaimFactory(account=account, reference="INV-2041", original_amount=Decimal("80.00"))
    billing_services.post_ledger_entry(
        account=account, kind="charge", amount=Decimal("80.00"), claim=claim
    )
    return account


def page(client, user, account, tab="") -> str:
    client.force_login(user)
    url = reverse("accounts:detail", args=[account.pk])
    response = client.get(f"{url}?tab={tab}" if tab else url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_collector_sees_the_claims_and_the_journal(client, collector, account):
    html = page(client, collector, account)
    assert 'data-testid="account-claims"' in html and "INV-2041" in html
    assert 'data-testid="account-journal"' not in html
    journal = page(client, collector, account, tab="journal")
    assert 'data-testid="account-journal"' in journal and "Charge" in journal
    assert "account-claims" not in journal


def test_a_section_needs_its_permission(client, company, account):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(company=company)
    viewer.user_permissions.add(Permission.objects.get(codename="view_account"))
    html = page(client, viewer, account)
    assert "account-claims" not in html and "INV-2041" not in html
    assert "account-journal" not in page(client, viewer, account, tab="journal")
