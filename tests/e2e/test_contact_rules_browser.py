"""The contact rules as a supervisor meets them, in a real browser: the
check step of Send Message says how many messages the rules would hold or
suppress and why; Ignore Contact Preferences asks for a reason and says
what it cannot pass; after the send, the batch page counts its messages per
rule."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.roles import SUPERVISOR
from bulkops import services
from bulkops.models import BulkOperation
from communications import dispatch
from communications.models import ContactPreference, LegalStop, Message, MessageState
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import counter, log_in
from tests.e2e.toolbar import click_action
from tests.factories import (
    AccountFactory,
    CompanyFactory,
    DebtorFactory,
    DebtorPhoneFactory,
    UserFactory,
    zone_at,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


def debtor(company, first_name, number, **fields):
    account = AccountFactory(company=company, debtor=DebtorFactory(first_name=first_name, **fields))
    DebtorPhoneFactory(debtor=account.debtor, number=number)
    return account


def test_the_check_step_and_the_batch_page_count_what_the_rules_hold(
    live_server, page: Page, twilio_loopback, roles
):
    company = CompanyFactory(name="Harbor Collections")
    supervisor = UserFactory(username="sue", company=company, role=SUPERVISOR)
    debtor(company, "Ann", "+15555550121")  # where it is midday: sent
    debtor(company, "Nia", "+15555550122", timezone=zone_at(0))  # held till 8:00
    lawyered = debtor(company, "Lee", "+15555550123")
    LegalStop.objects.create(account=lawyered, kind=LegalStop.Kind.ATTORNEY, source="Letter")
    left_alone = debtor(company, "Dee", "+15555550124")
    ContactPreference.objects.create(debtor=left_alone.debtor, do_not_contact=True)

    watcher = log_in(page, live_server.url, supervisor)
    page.locator("#select-all").check()
    expect(counter(page)).to_have_text("4 selected of 4")
    click_action(page, "Send Message")
    dialog = page.get_by_role("dialog", name="Send Message")
    dialog.get_by_label("Free text").check()
    dialog.get_by_label("SMS").check()
    dialog.get_by_label("Message", exact=True).fill(
        "Hi {{debtorFirstName}}, please call Harbor. Reply STOP to opt out."
    )
    # The override needs a reason, and says what it does not pass.
    override = dialog.get_by_label("Ignore Contact Preferences")
    expect(dialog).to_contain_text("Opt-outs, do not contact, legal stops, 8:00 to 21:00")
    override.check()
    dialog.get_by_role("button", name="Check the messages").click()
    expect(dialog).to_contain_text("Say why the contact preferences are ignored.")
    dialog.get_by_label("Ignore Contact Preferences").uncheck()
    dialog.get_by_role("button", name="Check the messages").click()

    rules = page.get_by_test_id("contact-rules-check")
    expect(rules).to_be_visible()
    expect(page.get_by_test_id("check-going")).to_have_text("4")
    expect(page.get_by_test_id("check-held")).to_have_text("1")
    expect(page.get_by_test_id("check-suppressed")).to_have_text("2")
    expect(rules).to_contain_text("Outside 8:00 to 21:00")
    expect(rules).to_contain_text("An attorney represents the debtor on this account.")
    expect(rules).to_contain_text("The debtor asked not to be contacted.")
    assert_accessible(page, "the Send Message check step with the contact rules")
    page.get_by_role("button", name="Send Message").click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))

    batch = BulkOperation.objects.get()
    services.run_operation(batch.pk)  # the worker's part, in this process
    assert dispatch.send_due_messages() == 1
    assert [r["Body"] for r in twilio_loopback.requests] == [
        "Hi Ann, please call Harbor. Reply STOP to opt out."
    ]
    page.goto(live_server.url + reverse("messages:batch", args=[batch.pk]))
    held = page.get_by_test_id("held-rules")
    expect(held.locator('[data-rule="time_of_day"]')).to_contain_text("1")
    suppressed = page.get_by_test_id("suppressed-rules")
    expect(suppressed.locator('[data-rule="legal_stop"]')).to_contain_text("An attorney")
    expect(suppressed.locator('[data-rule="do_not_contact"]')).to_contain_text("1")
    expect(page.get_by_test_id("state-counts").locator('[data-state="held"]')).to_contain_text("1")
    assert_accessible(page, "the batch page with its per-rule counts")
    # The account's history shows the message with its reason.
    page.goto(f"{live_server.url}/accounts/{lawyered.pk}/")
    expect(page.get_by_test_id("message-reason")).to_contain_text("An attorney represents")
    states = sorted(Message.objects.values_list("state", "rule"))
    assert states == sorted(
        [
            (MessageState.SENT, ""),
            (MessageState.HELD, "time_of_day"),
            (MessageState.SUPPRESSED, "legal_stop"),
            (MessageState.SUPPRESSED, "do_not_contact"),
        ]
    )
    # Only the refused check without a reason answered with an error (422).
    assert watcher.problems and all("422" in problem for problem in watcher.problems)
