"""Send Message from the grid and Send debtor SMS from the account page, in
a real browser: the dialog shows only what the chosen type needs, the check
step shows the filled-in message and who gets none (an SMS too long once
filled in), and the messages go to a loopback server speaking Twilio's API,
once each."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.roles import ADMIN, SUPERVISOR
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
    ClaimFactory,
    CompanyFactory,
    DebtorFactory,
    DebtorPhoneFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


def test_send_message_and_send_debtor_sms(live_server, page: Page, twilio_loopback, roles):
    company = CompanyFactory(name="Harbor Collections")
    supervisor = UserFactory(username="sue", company=company, role=SUPERVISOR)
    save_template(user=UserFactory(company=company, role=ADMIN), channel="sms", name="Nudge",
                  body="{{debtorFirstName}}, {{claimReference}} is due. {{optOutText}}")  # fmt: skip
    ann = AccountFactory(company=company, debtor=DebtorFactory(first_name="Ann"))
    DebtorPhoneFactory(debtor=ann.debtor, number="+15555550111")
    ClaimFactory(account=ann, reference="INV-1", balance="10.00")
    wordy = AccountFactory(company=company, debtor=DebtorFactory(first_name="W" * 95))
    DebtorPhoneFactory(debtor=wordy.debtor, number="+15555550112")

    watcher = log_in(page, live_server.url, supervisor)
    page.locator("#select-all").check()
    expect(counter(page)).to_have_text("2 selected of 2")
    click_action(page, "Send Message")
    dialog = page.get_by_role("dialog", name="Send Message")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Subject")).to_be_hidden()  # SMS: no subject
    dialog.get_by_label("Free text").check()
    dialog.get_by_label("Email").check()
    expect(dialog.get_by_label("Subject")).to_be_visible()
    dialog.get_by_label("SMS").check()
    dialog.get_by_label("Message", exact=True).fill(
        "Hi {{debtorFirstName}}, please call Harbor about your account today. "
        "Reply STOP to opt out."
    )
    assert_accessible(page, "the Send Message dialog")
    dialog.get_by_role("button", name="Check the messages").click()

    check = page.get_by_test_id("message-check")
    expect(check).to_be_visible()
    expect(page.get_by_test_id("check-going")).to_have_text("1")
    expect(page.get_by_test_id("too-long")).to_contain_text(wordy.file_number)
    expect(check).to_contain_text("Hi Ann, please call Harbor")
    assert_accessible(page, "the Send Message check step")
    page.get_by_role("button", name="Send Message").click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    batch = BulkOperation.objects.get()
    services.run_operation(batch.pk)  # the worker's part, in this process
    assert dispatch.send_due_messages() == 1

    # The account page's Actions: Send debtor SMS with its stored content.
    page.goto(f"{live_server.url}/accounts/{ann.pk}/")
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("link", name="Send debtor SMS").click()
    page.get_by_label("Claim reference").select_option(label="INV-1 (balance $10.00)")
    page.get_by_label("SMS content").select_option(label="SMS · Nudge (English (US))")
    assert_accessible(page, "the Send debtor SMS form")
    page.get_by_role("button", name="Check the SMS").click()
    expect(page.get_by_test_id("debtor-message")).to_contain_text("Ann, INV-1 is due.")
    assert_accessible(page, "the Send debtor SMS check")
    page.get_by_test_id("send").dblclick()  # a double click sends once
    expect(page.get_by_role("alert")).to_contain_text("The SMS is queued")
    single = BulkOperation.objects.exclude(pk=batch.pk).get()
    services.run_operation(single.pk)
    assert dispatch.send_due_messages() == 1

    bodies = sorted(r["Body"] for r in twilio_loopback.requests)
    assert bodies == [
        "Ann, INV-1 is due. Reply STOP to opt out.",
        "Hi Ann, please call Harbor about your account today. Reply STOP to opt out.",
    ]
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.SENT}
    page.reload()
    expect(page.get_by_test_id("account-messages")).to_contain_text("Sent")
    watcher.assert_clean()
