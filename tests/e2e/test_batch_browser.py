"""The Messages pages in a real browser: a supervisor opens Messages, opens
a batch and its counts, filters its messages by state, opens a message and
reads its events (a late one marked), cancels what of the batch is not sent
yet, and finds the account's messages on its page. Every page passes
axe-core and the Content-Security-Policy."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.roles import SUPERVISOR
from communications.models import Message, MessageEvent, MessageState
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import log_in
from tests.factories import AccountFactory, BulkOperationFactory, CompanyFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

State = MessageState


def test_a_supervisor_follows_a_batch_and_cancels_the_rest_of_it(live_server, page: Page, roles):
    company = CompanyFactory(name="Harbor Collections")
    supervisor = UserFactory(username="sue", company=company, role=SUPERVISOR)
    other = CompanyFactory(name="Elsewhere Recovery")
    stranger = UserFactory(username="stan", company=other, role=SUPERVISOR)
    account = AccountFactory(company=company)
    send_at = timezone.now() - dt.timedelta(minutes=5)
    batch = BulkOperationFactory(
        kind="schedule_emails",
        target="accounts",
        created_by=supervisor,
        status="succeeded",
        total=6,
        succeeded=6,
        processed=6,
        parameters={
            "send_at": send_at.isoformat(),
            "template": 1,
            "template_version": 1,
            "template_name": "Reminder",
            "version": 1,
        },
    )
    BulkOperationFactory(kind="schedule_emails", created_by=stranger, parameters=batch.parameters)

    def message(state, to, **fields):
        return Message.objects.create(
            company=company,
            account=account,
            channel="email",
            to=to,
            subject=f"About {account.file_number}",
            text="Dear Zoë, please call us.",
            html="<p>Dear Zoë, please call us.</p>",
            state=state,
            bulk_operation=batch,
            **fields,
        )

    delivered = message(State.DELIVERED, "zoe@example.net", provider_id="<m-1@example>")
    for state, applied, source in [
        (State.SENDING, True, ""),
        (State.SENT, True, ""),
        (State.DELIVERED, True, "esp"),
        (State.SENT, False, "esp"),
    ]:
        MessageEvent.objects.create(message=delivered, state=state, applied=applied, source=source)
    message(State.SENT, "yann@example.net")
    message(State.HELD, "xavier@example.net", rule="rate_limit", reason="Next minute")
    message(State.QUEUED, "wanda@example.net")
    message(State.QUEUED, "victor@example.net")
    message(State.UNKNOWN, "ursula@example.net", error="The worker sending it was lost.")

    watcher = log_in(page, live_server.url, supervisor)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
    expect(page.get_by_role("heading", name="Messages", exact=True)).to_be_visible()
    batches = page.get_by_test_id("batches")
    expect(batches.locator("tbody tr")).to_have_count(1)  # not the other company's
    expect(batches).to_contain_text("Sent 1 · Delivered 1")
    assert_accessible(page, "the Messages page")

    batches.get_by_role("link", name=re.compile(r"Schedule Emails “Reminder”")).click()
    expect(page).to_have_url(re.compile(rf"/messages/batches/{batch.pk}/$"))
    counts = page.get_by_test_id("state-counts")
    expect(counts.locator('tr[data-state="queued"]')).to_contain_text("2")
    expect(page.get_by_test_id("unknown-count")).to_contain_text("1 message with an unknown fate")
    expect(page.get_by_test_id("held-rules")).to_contain_text("Next minute")
    expect(page.get_by_test_id("message-counts")).to_have_attribute("data-polling", "true")
    messages = page.get_by_test_id("batch-messages")
    expect(messages.locator("tbody tr")).to_have_count(6)
    assert_accessible(page, "a message batch's page")

    page.get_by_label("State").select_option(label="Delivered")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"state=delivered"))
    expect(messages.locator("tbody tr")).to_have_count(1)
    messages.get_by_role("link", name=f"#{delivered.pk}").click()

    expect(page.get_by_role("heading", name=re.compile("to zoe@example.net"))).to_be_visible()
    frame = page.frame_locator("iframe[title='The email as sent (HTML)']")
    expect(frame.locator("p")).to_have_text("Dear Zoë, please call us.")
    events = page.get_by_test_id("message-events")
    expect(events.locator("tbody tr")).to_have_count(4)
    expect(events.get_by_test_id("late-event")).to_have_text("arrived late, changed nothing")
    assert_accessible(page, "a message's page with its events")

    page.get_by_role("link", name=re.compile(rf"Batch #{batch.pk}")).click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel messages not sent yet").click()
    expect(page.get_by_role("alert")).to_contain_text("Cancelled 3 messages not sent yet")
    expect(counts.locator('tr[data-state="cancelled"]')).to_contain_text("3")
    expect(page.get_by_test_id("message-counts")).to_have_attribute("data-polling", "false")
    expect(page.get_by_role("button", name="Cancel messages not sent yet")).to_have_count(0)
    assert set(Message.objects.values_list("state", flat=True)) == {
        State.DELIVERED,
        State.SENT,
        State.CANCELLED,
        State.UNKNOWN,
    }

    page.goto(f"{live_server.url}/accounts/{account.pk}/")
    section = page.get_by_test_id("account-messages")
    expect(section.get_by_role("heading", name="Messages")).to_be_visible()
    expect(section.locator("tbody tr")).to_have_count(6)
    assert_accessible(page, "the account page with its messages")
    section.get_by_role("link", name=re.compile(rf"#{delivered.pk}\b")).click()
    expect(page.get_by_test_id("message-state")).to_have_text("Delivered")
    watcher.assert_clean()
