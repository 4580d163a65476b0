"""The account page as a collector's workplace, in Chromium: a collector
opens an account, adds a note and an interaction, creates a task and a
promise to pay, sees them in the Diary, filters it by event and by user,
rearranges two widgets, adds a custom widget and finds the layout again
after a reload. Every page and dialog passes axe-core."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import (
    CustomField,
    DelinquencyReason,
    InteractionOutcome,
    Note,
    WorkQueue,
)
from accounts.roles import COLLECTOR
from billing import services as billing
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import log_in
from tests.factories import AccountFactory, ClaimFactory, CompanyFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


@pytest.fixture
def workplace(roles):
    company = CompanyFactory(name="Acme Recovery")
    collector = UserFactory(
        username="cole", first_name="Cole", last_name="Lector", company=company, role=COLLECTOR
    )
    other = UserFactory(
        username="otto", first_name="Otto", last_name="Other", company=company, role=COLLECTOR
    )
    queue = WorkQueue.objects.create(company=company, name="Early stage")
    queue.members.add(collector)
    # The platform's defaults (a migration's rows, flushed between such tests).
    InteractionOutcome.objects.get_or_create(company=None, name="Left message")
    DelinquencyReason.objects.get_or_create(company=None, name="Reduced income")
    CustomField.objects.create(company=company, name="Employer", key="employer")
    account = AccountFactory(company=company, debtor__first_name="Pat", debtor__last_name="Doe")
    claim = ClaimFactory(account=account, reference="INV-501")
    billing.post_ledger_entry(account=account, kind="charge", amount=Decimal("240"), claim=claim)
    # Someone else's note, for the Users filter.
    Note.objects.create(account=account, body="Letter sent", author=other)
    return collector, account


def choose_action(page, label):
    page.get_by_role("button", name="Actions").click()
    page.get_by_test_id("account-actions").get_by_role("link", name=label).click()


def widget_titles(page):
    return page.get_by_test_id("widget").evaluate_all("els => els.map(e => e.dataset.title)")


def test_a_collector_works_an_account_and_keeps_a_layout(live_server, page, workplace):
    collector, account = workplace
    url = f"{live_server.url}/accounts/{account.pk}/"
    log_in(page, live_server.url, collector)
    page.goto(url)
    expect(page.get_by_role("heading", name="Pat Doe")).to_be_visible()
    assert_accessible(page, "the account page")

    # Add Notes.
    page.get_by_role("link", name="Add Notes").click()
    page.get_by_label("Note", exact=True).fill("Debtor asked for a statement")
    assert_accessible(page, "Add notes")
    page.get_by_role("button", name="Add Note").click()
    expect(page.get_by_text("Note added")).to_be_visible()

    # Add Interaction.
    page.goto(url)
    page.get_by_role("link", name="Add Interaction").click()
    page.get_by_label("Communication method").select_option(label="Phone call")
    page.get_by_label("Outcome").select_option(label="Left message")
    page.get_by_label("Outbound (we contacted them)").check()
    page.get_by_label("Reason for delinquency").select_option(label="Reduced income")
    assert_accessible(page, "Add Interaction")
    page.get_by_role("button", name="Submit resolution").click()
    expect(page.get_by_text("Interaction recorded")).to_be_visible()

    # Create task, for the queue.
    page.goto(url)
    choose_action(page, "Create task")
    page.get_by_role("radio", name="Queue").check()
    page.get_by_role("combobox", name="Queue").select_option(label="Early stage")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    page.get_by_label("Due date").fill(tomorrow.isoformat())
    page.get_by_label("Tags (optional)").fill("statement")
    assert_accessible(page, "Create task")
    page.get_by_role("button", name="Create Task").click()
    expect(page.get_by_test_id("account-tasks")).to_contain_text("Early stage")

    # Create promise to pay.
    page.goto(url)
    choose_action(page, "Create promise to pay")
    page.get_by_label("Claim reference").select_option(index=1)
    page.get_by_label("Amount").fill("80.00")
    page.get_by_label("Due date").fill((tomorrow + dt.timedelta(days=6)).isoformat())
    assert_accessible(page, "Create promise to pay")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("account-promises")).to_contain_text("80.00")

    # The Diary has them all; filter by event, then by user.
    page.get_by_role("link", name="Diary").click()
    diary = page.get_by_test_id("diary")
    for text in (
        "Debtor asked for a statement",
        "Left message",
        "Task for Early stage",
        "Promise to pay 80.00",
        "Letter sent",
    ):
        expect(diary).to_contain_text(text)
    assert_accessible(page, "the Diary")
    page.get_by_role("button", name="Event").click()
    page.get_by_label("Note", exact=True).check()
    page.get_by_role("group", name="Event").get_by_role("button", name="Apply").click()
    expect(diary.locator(".diary-event")).to_have_count(2)
    page.get_by_role("button", name=re.compile(r"^Users")).click()
    page.get_by_label("Cole Lector").check()
    page.get_by_role("group", name="Users").get_by_role("button", name="Apply").click()
    expect(diary.locator(".diary-event")).to_have_count(1)
    expect(diary).to_contain_text("Debtor asked for a statement")
    expect(diary).not_to_contain_text("Letter sent")

    # Edit Layout: swap the first two widgets, add a custom widget, Save.
    page.get_by_role("link", name="Account Details").click()
    before = widget_titles(page)
    page.get_by_role("button", name="Edit Layout").click()
    first, second = page.get_by_test_id("widget").nth(0), page.get_by_test_id("widget").nth(1)
    first.locator(".widget-handle").drag_to(second.locator(".card-body"))
    after_drag = widget_titles(page)
    assert after_drag[:2] == [before[1], before[0]], after_drag
    page.get_by_role("button", name="Add widget").click()
    dialog = page.get_by_role("dialog", name="Add widget")
    dialog.get_by_role("tab", name="Custom").click()
    dialog.get_by_label("Label").fill("Employment")
    dialog.get_by_label("Employer").check()
    assert_accessible(page, "the Add widget dialog")
    dialog.get_by_role("tabpanel").get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Widget added.")).to_be_visible()

    page.reload()
    titles = widget_titles(page)
    assert titles[:2] == [before[1], before[0]] and titles[-1] == "Employment"
    expect(page.get_by_test_id("widget-custom")).to_contain_text("Employer")
