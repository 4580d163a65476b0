"""Schedule Emails in a real browser, with a real worker and a real SMTP
server: a collector schedules emails for a selection and, not allowed to
send, sends them for approval; a supervisor approves the batch in Approvals;
at its time the worker queues one email per reachable debtor, and the
dispatch delivers it to the SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from bulkops import services
from bulkops.models import BulkOperation
from communications import dispatch
from communications.models import Message, MessageState
from communications.services import save_template
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import counter, log_in
from tests.e2e.toolbar import click_action
from tests.factories import (
    AccountFactory,
    CompanyFactory,
    DebtorEmailFactory,
    DebtorFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


def wait_for(predicate, timeout=45):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_collector_sends_emails_for_approval_and_they_arrive_once_approved(
    live_server, page: Page, celery_worker, smtp, roles
):
    company = CompanyFactory(name="Harbor Collections")
    collector = UserFactory(username="cora", company=company, role=COLLECTOR)
    supervisor = UserFactory(username="sue", company=company, role=SUPERVISOR)
    admin = UserFactory(username="ada", company=company, role=ADMIN)
    reachable = AccountFactory(company=company, debtor=DebtorFactory(first_name="Zoë"))
    DebtorEmailFactory(debtor=reachable.debtor, address="zoe@example.net")
    AccountFactory(company=company)  # no email address
    save_template(
        user=admin,
        channel="email",
        name="Reminder",
        subject="About {{fileNumber}}",
        text_body="Dear {{debtorFirstName}}, please call us.\nStop emails: {{optOutLink}}",
    )

    watcher = log_in(page, live_server.url, collector)
    expect(counter(page)).to_have_text("0 selected of 2")
    page.locator("#select-all").check()
    expect(counter(page)).to_have_text("2 selected of 2")
    click_action(page, "Schedule Emails")
    dialog = page.get_by_role("dialog", name="Schedule Emails")
    expect(dialog).to_be_visible()
    send_at = timezone.localtime() + dt.timedelta(minutes=30)
    dialog.get_by_label("Send date and time").fill(send_at.strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_label("Email template").select_option(label="Reminder (English (US))")
    assert_accessible(page, "the Schedule Emails dialog of a collector")
    dialog.get_by_role("button", name="Send for Approval").click()

    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    expect(page.get_by_test_id("waiting-for-approval")).to_contain_text(
        "Its sender may not send emails without approval."
    )
    operation = BulkOperation.objects.get()
    assert operation.status == BulkOperation.Status.PENDING_APPROVAL
    page.get_by_role("button", name="Log out").click()

    # A supervisor approves it in Approvals.
    log_in(page, live_server.url, supervisor)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    approvals = page.get_by_test_id("approvals")
    expect(approvals).to_contain_text("Schedule Emails “Reminder” (version 1)")
    expect(approvals).to_contain_text("Its sender may not send emails without approval.")
    assert_accessible(page, "the Approvals page with a batch waiting")
    approvals.get_by_label(f"Select #{operation.pk}").check()
    page.get_by_role("button", name="Approve selected").click()
    expect(page.get_by_role("alert")).to_have_text("Approved 1 operation.")
    expect(page.get_by_test_id("approvals")).to_contain_text("Nothing waits for approval.")
    page.goto(f"{live_server.url}/bulk/{operation.pk}/")
    expect(page.get_by_test_id("scheduled")).to_contain_text(f"{send_at:%Y-%m-%d %H:%M}")
    assert_accessible(page, "an approved, scheduled message batch")
    operation.refresh_from_db()
    assert operation.status == BulkOperation.Status.SCHEDULED
    assert not Message.objects.exists()

    # Its time comes: beat releases it, the worker queues the messages...
    BulkOperation.objects.filter(pk=operation.pk).update(run_at=timezone.now())
    services.release_scheduled_operations()
    wait_for(lambda: BulkOperation.objects.get(pk=operation.pk).is_final)
    operation.refresh_from_db()
    assert (operation.succeeded, operation.skipped) == (1, 1)
    [message] = Message.objects.all()
    assert message.send_after == send_at.replace(second=0, microsecond=0)
    # ... and at the send time the dispatch delivers it, once.
    Message.objects.update(send_after=timezone.now())
    assert dispatch.send_due_messages() == 1
    assert dispatch.send_due_messages() == 0
    [(to, received)] = smtp.messages
    assert to == ["zoe@example.net"]
    assert received["Subject"] == f"About {reachable.file_number}"
    assert "Dear Zoë, please call us." in received.get_body(("plain",)).get_content()
    message.refresh_from_db()
    assert message.state == MessageState.SENT
    page.reload()
    expect(page.get_by_test_id("progress")).to_have_attribute("data-status", "succeeded")
    # Its state shows on the batch page and on the account.
    page.get_by_role("link", name="Messages of this batch").click()
    expect(page.get_by_test_id("batch-messages")).to_contain_text("Sent")
    page.goto(f"{live_server.url}/accounts/{reachable.pk}/")
    expect(page.get_by_test_id("account-messages")).to_contain_text("Sent")
    watcher.assert_clean()
