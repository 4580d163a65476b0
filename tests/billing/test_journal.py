"""The Journal tab: every ledger entry with its claim, product, payment
method, context, amount and running balance; sorted, filtered, paged, and
its CSV (formula cells escaped); unknown filter values left out."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services as billing
from billing.models import ServiceType, Subscription
from tests.factories import AccountFactory, ClaimFactory, PaymentMethodFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(company):
    account = AccountFactory(company=company)
    fibre = Subscription.objects.create(account=account, service_name="Fibre 100")
    fee = ServiceType.objects.get_or_create(company=None, name="Fee")[0]
    first = ClaimFactory(account=account, reference="INV-1", subscription=fibre)
    second = ClaimFactory(account=account, reference="INV-2", service_type=fee)
    card = PaymentMethodFactory(account=account, label="Visa ending 4242")
    billing.post_ledger_entry(account=account, kind="charge", amount=Decimal("100"), claim=first)
    billing.post_ledger_entry(
        account=account, kind="fee", amount=Decimal("15"), claim=second, description="=HYPERLINK()"
    )
    billing.post_ledger_entry(
        account=account,
        kind="payment",
        amount=Decimal("-40"),
        claim=first,
        payment_method=card,
        context="system",
    )
    return account


def tab(client, user, account, **params):
    client.force_login(user)
    response = client.get(
        reverse("accounts:detail", args=[account.pk]), {"tab": "journal", **params}
    )
    assert response.status_code == 200
    return response.context


def rows(context):
    return context["journal"]["rows"]


def test_newest_first_with_the_running_balance(client, collector, account):
    journal = rows(tab(client, collector, account))
    assert [r["kind"] for r in journal] == ["Payment", "Fee", "Charge"]
    assert [r["running"] for r in journal] == [
        Decimal("75.00"),
        Decimal("115.00"),
        Decimal("100.00"),
    ]
    assert [r["product"] for r in journal] == ["Fibre 100", "Fee", "Fibre 100"]
    assert journal[0]["method"] == "Visa ending 4242"


def test_filters_keep_the_account_s_running_balance(client, collector, account):
    journal = rows(tab(client, collector, account, product="Fibre 100"))
    assert [r["running"] for r in journal] == [Decimal("75.00"), Decimal("100.00")]
    assert [r["kind"] for r in rows(tab(client, collector, account, context="system"))] == [
        "Payment"
    ]


def test_sorted_by_claim_then_the_other_way(client, collector, account):
    up = rows(tab(client, collector, account, sort="claim", dir="asc"))
    assert [r["claim"] for r in up] == ["INV-1", "INV-1", "INV-2"]
    down = rows(tab(client, collector, account, sort="claim", dir="desc"))
    assert [r["claim"] for r in down][0] == "INV-2"


def test_unknown_values_are_left_out_with_a_message(client, collector, account, company):
    elsewhere = ClaimFactory(account=AccountFactory(company=company))
    context = tab(client, collector, account, claim=[elsewhere.pk, "x"], sort="amount;drop")
    problems = context["journal_filters"].problems
    assert "Unknown claim left out of the filter." in problems
    assert any("Unknown sort" in p for p in problems)
    assert len(rows(context)) == 3


def test_the_csv_has_every_matching_entry_escaped(client, collector, account):
    client.force_login(collector)
    response = client.get(reverse("billing:journal-csv", args=[account.pk]), {"claim": []})
    assert response["Content-Disposition"].startswith("attachment;")
    body = b"".join(response.streaming_content).decode()
    lines = list(csv.reader(io.StringIO(body)))
    assert lines[0][:3] == ["Date", "Claim ID", "Product"]
    assert len(lines) == 4
    fee = next(line for line in lines if line[5] == "Fee")
    assert fee[6] == "'=HYPERLINK()" and fee[7] == "15.00"
    payment = next(line for line in lines if line[5] == "Payment")
    assert payment[7] == "-40.00" and payment[8] == "75.00"


def test_another_company_s_journal_is_not_found(client, other_company, account):
    from accounts.roles import COLLECTOR
    from tests.factories import UserFactory

    stranger = UserFactory(company=other_company, role=COLLECTOR)
    client.force_login(stranger)
    assert client.get(reverse("billing:journal-csv", args=[account.pk])).status_code == 404
    url = reverse("accounts:detail", args=[account.pk])
    assert client.get(url, {"tab": "journal"}).status_code == 404


def test_pages_of_fifty(client, collector, account):
    for _ in range(60):
        billing.post_ledger_entry(account=account, kind="charge", amount=Decimal("1"))
    first = tab(client, collector, account)["journal"]
    assert (len(first["rows"]), first["total"], first["pages"]) == (50, 63, 2)
    second = tab(client, collector, account, page=2)["journal"]
    assert len(second["rows"]) == 13 and second["rows"][-1]["running"] == Decimal("100.00")


def test_oldest_first_the_running_balance_still_follows_posting(client, collector, account):
    journal = rows(tab(client, collector, account, sort="date", dir="asc"))
    assert [r["running"] for r in journal] == [
        Decimal("100.00"),
        Decimal("115.00"),
        Decimal("75.00"),
    ]
