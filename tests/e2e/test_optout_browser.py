"""An email's opt-out link in a real browser: the debtor opens the link of
an email the dispatch sent to a real SMTP server, sees what it will do,
presses the button and is opted out, with no login; both pages pass
axe-core's WCAG 2.1 AA checks (and, as every browser test, the CSP)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import DebtorEmail
from accounts.roles import ADMIN
from communications import dispatch, services
from communications.models import Message, MessageState
from tests.e2e.a11y import assert_accessible
from tests.factories import AccountFactory, CompanyFactory, DebtorEmailFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


def test_the_debtor_opts_out_from_the_link_of_a_sent_email(
    live_server, page: Page, smtp, settings, roles
):
    settings.PUBLIC_URL = live_server.url
    company = CompanyFactory(name="Harbor Collections")
    account = AccountFactory(company=company)
    DebtorEmailFactory(debtor=account.debtor, address="zoe@example.net")
    template = services.save_template(
        user=UserFactory(company=company, role=ADMIN),
        channel="email",
        name="Reminder",
        subject="About {{fileNumber}}",
        html_body='<p>Please call us.</p><p><a href="{{optOutLink}}">Stop emails</a></p>',
        text_body="Please call us.\nStop emails: {{optOutLink}}",
    )
    content = services.Content.of_version(template.versions.get())
    for _ in range(2):  # the one sent now, and one waiting for tomorrow
        services.queue_messages(
            account_ids=[account.pk], content=content, send_after=timezone.now()
        )
    waiting = Message.objects.order_by("pk").last()
    Message.objects.filter(pk=waiting.pk).update(send_after=timezone.now() + dt.timedelta(days=1))
    assert dispatch.send_due_messages() == 1
    [(_to, received)] = smtp.messages
    [url] = re.findall(r'href="([^"]+)"', received.get_body(("html",)).get_content())
    assert url.startswith(f"{live_server.url}/optout/")

    page.goto(url)
    expect(page).to_have_title("Opt out of emails · Harbor Collections")
    expect(page.get_by_role("heading", name="Opt out of emails")).to_be_visible()
    expect(page.get_by_test_id("optout-address")).to_have_text("zoe@example.net")
    assert_accessible(page, "the opt-out page")
    assert not DebtorEmail.objects.get().email_opted_out  # opening it changed nothing

    page.get_by_role("button", name="Opt out of emails").click()
    expect(page.get_by_role("heading", name="You are opted out")).to_be_visible()
    expect(page.get_by_test_id("optout-done")).to_contain_text("zoe@example.net")
    assert_accessible(page, "the opted-out page")
    point = DebtorEmail.objects.get()
    assert point.email_opted_out and point.email_opt_out_source == "Opt-out link"
    waiting.refresh_from_db()
    assert (waiting.state, waiting.rule) == (MessageState.SUPPRESSED, "opt_out")
