"""Send debtor email and Send debtor SMS (seed 004), the account page's
Actions: claim reference, locale, a design (email, its free text in
{{customBody}}) or stored content / free text (SMS); a check page shows
the message as the debtor gets it; the send is a Send Message operation of
one account, so the same gate, rate limit, states and approval apply, and
a double click sends once. Another company's account is out of reach."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from bulkops import services
from bulkops.models import BulkOperation
from communications.models import Message
from communications.services import save_template
from tests.factories import (
    AccountFactory,
    ClaimFactory,
    DebtorEmailFactory,
    DebtorFactory,
    DebtorPhoneFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(company):
    account = AccountFactory(company=company, debtor=DebtorFactory(first_name="Ann"))
    DebtorEmailFactory(debtor=account.debtor, address="ann@example.net")
    DebtorPhoneFactory(debtor=account.debtor, number="+15555550142")
    return account


@pytest.fixture
def claim(account):
    return ClaimFactory(account=account, reference="INV-77", balance=Decimal("40.00"))


@pytest.fixture
def designs(company):
    admin = UserFactory(company=company, role=ADMIN)
    return {
        "free": save_template(
            user=admin,
            channel="email",
            name="Free text",
            subject="About {{claimReference}}",
            html_body='<div>{{customBody}}</div><p><a href="{{optOutLink}}">Stop emails</a></p>',
            text_body="{{customBody}}\nStop emails: {{optOutLink}}",
        ),
        "spanish": save_template(
            user=admin,
            channel="email",
            name="Recordatorio",
            locale="es-US",
            subject="Hola",
            text_body="Hola {{debtorFirstName}}. No más correos: {{optOutLink}}",
        ),
        "sms": save_template(
            user=admin,
            channel="sms",
            name="Nudge",
            body="{{debtorFirstName}}, {{claimBalance}} due. {{optOutText}}",
        ),
    }


def url(account, channel):
    return reverse(f"messages:send-debtor-{channel}", args=[account.pk])


def check_then_send(client, account, channel, data):
    """Post the form (the check page), then its Send button, as a browser does."""
    check = client.post(url(account, channel), data)
    assert check.status_code == 200, check.content
    page = check.content.decode()
    assert 'data-testid="send"' in page, page
    carried = check.context["carried"]
    form = dict(carried)
    form.update(
        step="send",
        preview_token=check.context["preview_token"],
        idempotency_key=check.context["idempotency_key"],
    )
    return check, form


def test_the_actions_dropdown_offers_both(client, company, account):
    client.force_login(UserFactory(company=company, role=COLLECTOR))
    page = client.get(reverse("accounts:detail", args=[account.pk])).content.decode()
    assert 'data-testid="account-actions"' in page
    assert url(account, "email") in page and url(account, "sms") in page
    assert "Send debtor email" in page and "Send debtor SMS" in page


def test_a_supervisor_emails_free_text_through_a_design(client, company, account, claim, designs):
    client.force_login(UserFactory(company=company, role=SUPERVISOR))
    form = client.get(url(account, "email")).content.decode()
    assert "Claim reference" in form and "Design" in form and "INV-77" in form
    check, data = check_then_send(
        client,
        account,
        "email",
        {
            "claim": claim.pk,
            "locale": "en-US",
            "template": designs["free"].pk,
            "text": "Dear {{debtorFirstName}}, pay here: https://pay.example/x",
            "when": "now",
        },
    )
    assert "About INV-77" in check.content.decode()
    assert "ann@example.net" in check.content.decode()  # a supervisor sees it unmasked
    assert not Message.objects.exists()  # the check sends nothing
    sent = client.post(url(account, "email"), data)
    assert sent.status_code == 302 and sent.url == reverse("accounts:detail", args=[account.pk])
    again = client.post(url(account, "email"), data)  # a double click
    assert again.status_code == 302
    services.run_operation(BulkOperation.objects.get().pk)  # the worker's part
    [message] = Message.objects.all()
    assert (message.account, message.to, message.subject) == (
        account,
        "ann@example.net",
        "About INV-77",
    )
    assert "Dear Ann, pay here: https://pay.example/x" in message.html
    operation = BulkOperation.objects.get()
    assert operation.kind == "send_debtor_message" and operation.total == 1
    assert operation.parameters["claim_reference"] == "INV-77"


def test_a_collectors_sms_waits_for_approval(client, company, account, claim, designs):
    client.force_login(UserFactory(company=company, role=COLLECTOR))
    check, data = check_then_send(
        client,
        account,
        "sms",
        {
            "claim": claim.pk,
            "source": "template",
            "locale": "en-US",
            "template": designs["sms"].pk,
            "when": "now",
        },
    )
    page = check.content.decode()
    assert "Ann, $40.00 due." in page and "Send for Approval" in page
    assert "+15555550142" not in page  # masked for a collector
    client.post(url(account, "sms"), data)
    operation = BulkOperation.objects.get()
    assert operation.status == BulkOperation.Status.PENDING_APPROVAL
    assert not Message.objects.exists()


def test_free_text_sms(client, company, account, designs):
    client.force_login(UserFactory(company=company, role=SUPERVISOR))
    _check, data = check_then_send(
        client,
        account,
        "sms",
        {
            "source": "free_text",
            "locale": "en-US",
            "text": "Hi {{debtorFirstName}}. Reply STOP to opt out",
            "when": "now",
        },
    )
    client.post(url(account, "sms"), data)
    services.run_operation(BulkOperation.objects.get().pk)
    [message] = Message.objects.all()
    assert (message.channel, message.text, message.to) == (
        "sms",
        "Hi Ann. Reply STOP to opt out",
        "+15555550142",
    )


@pytest.mark.parametrize(
    ("channel", "data", "words"),
    [
        ("email", {"template": "spanish", "locale": "en-US"}, "Spanish"),
        ("email", {"template": "free", "locale": "en-US"}, "customBody"),
        ("sms", {"source": "free_text", "text": "y" * 150, "locale": "en-US"}, "at most 140"),
        ("sms", {"source": "template", "template": "free", "locale": "en-US"}, "Email template"),
    ],
)
def test_bad_input_is_refused_and_sends_nothing(
    client, company, account, designs, channel, data, words
):
    client.force_login(UserFactory(company=company, role=SUPERVISOR))
    if "template" in data:
        data = {**data, "template": designs[data["template"]].pk}
    response = client.post(url(account, channel), {"when": "now", **data})
    assert response.status_code == 200
    assert words in response.content.decode()
    assert 'data-testid="send"' not in response.content.decode()
    assert not BulkOperation.objects.exists()


def test_another_companys_account_or_claim_is_out_of_reach(
    client, company, other_company, account, designs
):
    theirs = AccountFactory(company=other_company)
    their_claim = ClaimFactory(account=theirs)
    client.force_login(UserFactory(company=company, role=SUPERVISOR))
    assert client.get(url(theirs, "email")).status_code == 404
    response = client.post(
        url(account, "email"),
        {"claim": their_claim.pk, "locale": "en-US", "template": designs["free"].pk, "text": "x"},
    )
    assert "Select a valid choice" in response.content.decode()
    assert not BulkOperation.objects.exists()


def test_a_tampered_channel_is_the_pages_own(client, company, account, designs):
    client.force_login(UserFactory(company=company, role=SUPERVISOR))
    _check, data = check_then_send(
        client,
        account,
        "sms",
        {
            "channel": "voice",
            "source": "free_text",
            "text": "Hi. Reply STOP to opt out",
            "locale": "en-US",
            "when": "now",
        },
    )
    client.post(url(account, "sms"), {**data, "channel": "voice"})
    services.run_operation(BulkOperation.objects.get().pk)
    assert Message.objects.get().channel == "sms"
