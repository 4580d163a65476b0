"""Templates in a real browser: an Admin writes an SMS template, watching
its length and segments as they type and the refusal of an unknown
placeholder, opens the Placeholders list, saves it and previews it for an
account; an email template's HTML body previews in its own sandboxed frame.
Every page is checked with axe."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from accounts.roles import ADMIN
from communications.models import MessageTemplate
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import log_in
from tests.factories import AccountFactory, CompanyFactory, DebtorFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


@pytest.fixture
def admin(roles):
    company = CompanyFactory(name="Harbor Collections")
    AccountFactory(
        company=company,
        file_number="F0000777",
        debtor=DebtorFactory(first_name="Zoë", last_name="Müller"),
        current_balance=Decimal("99.90"),
    )
    return UserFactory(
        username="ada", first_name="Ada", last_name="Admin", company=company, role=ADMIN
    )


def test_an_admin_writes_checks_saves_and_previews_an_sms_template(live_server, page: Page, admin):
    watcher = log_in(page, live_server.url, admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", name="Templates")).to_be_visible()
    assert_accessible(page, "the Templates list, empty")
    page.get_by_role("link", name="New SMS template").click()
    expect(page.get_by_role("heading", name="New SMS template")).to_be_visible()

    page.get_by_label("Name").fill("Balance reminder")
    body = page.get_by_label("Text")
    body.fill("Hi {{debtorNickname}}")
    measure = page.get_by_test_id("sms-measure")
    expect(measure).to_contain_text("Unknown placeholder “{{debtorNickname}}”.")
    body.fill(
        "Hi {{debtorFirstName}}, you owe {{accountBalance}} on {{fileNumber}}. {{optOutText}}"
    )
    # With the examples: "Hi Maria, you owe $1,250.00 on F1000042. Reply STOP to opt out."
    expect(measure).to_contain_text("63 of 140 characters · 1 segment (GSM-7)")
    page.get_by_test_id("placeholders").locator("summary").click()
    placeholders = page.get_by_role("table", name="Placeholders")
    expect(placeholders).to_contain_text("{{customBody}}")
    expect(placeholders).not_to_contain_text("{{optOutLink}}")  # emails only
    assert_accessible(page, "the SMS template editor with its placeholders")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("alert")).to_have_text("Template “Balance reminder” saved (version 1).")
    template = MessageTemplate.objects.get()
    assert template.body.startswith("Hi {{debtorFirstName}}")
    page.get_by_role("link", name="Preview").click()
    page.get_by_label("File Number").fill("f0000777")
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_test_id("preview")
    expect(preview).to_contain_text("Hi Zoë, you owe $99.90 on F0000777. Reply STOP to opt out.")
    expect(page.get_by_test_id("preview-measure")).to_contain_text("1 segment (UCS-2)")
    assert_accessible(page, "an SMS template's preview")
    watcher.assert_clean()


def test_an_email_templates_html_previews_in_a_sandboxed_frame(live_server, page: Page, admin):
    watcher = log_in(page, live_server.url, admin)
    page.goto(live_server.url + "/templates/new/email/")
    page.get_by_label("Name").fill("Statement")
    page.get_by_label("Subject").fill("Your account {{fileNumber}}")
    page.get_by_label("HTML body").fill(
        '<p style="color: #333">Dear {{debtorFirstName}},</p>{{customBody}}'
        '<p><a href="{{optOutLink}}">Stop emails</a></p><script>parent.x=1</script>'
    )
    page.get_by_label("Text body").fill("Dear {{debtorFirstName}}\nStop emails: {{optOutLink}}")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("saved (version 1)")
    page.get_by_role("link", name="Preview").click()
    expect(page).to_have_url(re.compile(r"/templates/\d+/preview/$"))
    frame = page.frame_locator("iframe[title='HTML body preview']")
    expect(frame.locator("p").first).to_have_text("Dear Maria,")
    assert page.evaluate("window.x") is None  # the frame's script never ran
    expect(page.get_by_test_id("preview")).to_contain_text("Your account F1000042")
    assert_accessible(page, "an email template's preview")
    # The one console line expected: the browser refusing the frame's script.
    blocked = [p for p in watcher.problems if "the document's frame is sandboxed" in p]
    assert len(blocked) == 1, watcher.problems
    watcher.problems = [p for p in watcher.problems if p not in blocked]
    watcher.assert_clean()
