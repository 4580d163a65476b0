"""Contact preferences (Reminders) on the account page, in a real browser.

A collector opens an account, asks for the forms ("Change contact
preferences", swapped in place), opts the SMS channel of the debtor's phone out
with a source and sees the date and the source shown, adds an "Attorney
represented" stop, sets preferred hours of 10:00 to 17:00 and records a
telephone conversation: each an htmx form that swaps the section in place,
the outcome announced and focused, under the Content-Security-Policy, and
the section passes axe-core (WCAG 2.1 AA) with every form open and with an
error shown. Without JavaScript the link leads to the section on a page of
its own, whose forms post, redirect back and show their errors there."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.roles import COLLECTOR
from bulkops.models import AuditEvent
from communications.models import ContactPreference, Conversation, LegalStop
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import log_in
from tests.factories import (
    AccountFactory,
    CompanyFactory,
    DebtorEmailFactory,
    DebtorFactory,
    DebtorPhoneFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]
SECTION = "#contact-preferences"


@pytest.fixture
def setting(roles):
    company = CompanyFactory(name="Harbor Collections")
    collector = UserFactory(username="cora", company=company, role=COLLECTOR)
    account = AccountFactory(company=company, debtor=DebtorFactory(first_name="Ann"))
    DebtorEmailFactory(debtor=account.debtor, address="ann@example.net")
    phone = DebtorPhoneFactory(debtor=account.debtor, number="+15555550142")
    return collector, account, phone


def open_form(page: Page, summary: str):
    """Open a form's disclosure (its <summary>) in the section and return the form."""
    details = page.locator(f"{SECTION} details", has=page.locator("summary", has_text=summary))
    details.locator("summary").first.click()
    return details.locator("form").first


def test_a_collector_records_what_the_debtor_said(live_server, page: Page, setting):
    collector, account, phone = setting
    watcher = log_in(page, live_server.url, collector)
    page.goto(f"{live_server.url}/accounts/{account.pk}/")
    section = page.locator(SECTION)
    expect(section.get_by_role("heading", name="Contact preferences (Reminders)")).to_be_visible()
    sms = section.get_by_test_id(f"channel-phone-{phone.pk}-sms")
    expect(sms).to_contain_text("***-***-0142")  # masked for a collector
    expect(section).not_to_contain_text("+15555550142")
    expect(section.locator("form")).to_have_count(0)  # drawn when asked for

    # The forms, swapped in place; the heading takes the focus.
    section.get_by_role("link", name="Change contact preferences").click()
    expect(section.get_by_role("heading", name="Contact preferences (Reminders)")).to_be_focused()
    sms = section.get_by_test_id(f"channel-phone-{phone.pk}-sms")

    # Opt the SMS channel out, as the debtor asked on the phone.
    sms.locator("summary").click()
    form = sms.locator("form")
    form.get_by_label("Opted out").select_option("yes")
    form.get_by_label("Source").fill("Phone call")
    form.get_by_role("button", name="Save").click()
    notice = page.get_by_test_id("preferences-notice")
    expect(notice).to_have_text("SMS at ***-***-0142 saved: consent yes, opted out yes.")
    expect(notice).to_be_focused()  # announced where the form was
    opted_out = section.get_by_test_id(f"channel-phone-{phone.pk}-sms").get_by_test_id("opted-out")
    today = timezone.localdate().isoformat()
    expect(opted_out).to_contain_text(re.compile(rf"Yes · {today} \d\d:\d\d · Phone call"))
    voice = section.get_by_test_id(f"channel-phone-{phone.pk}-voice").get_by_test_id("opted-out")
    expect(voice).to_have_text("No")

    # An attorney's letter: a legal stop on the account.
    form = open_form(page, "Add a legal stop")
    form.get_by_label("Stop").select_option(label="Attorney represented")
    form.get_by_label("Source").fill("Attorney's letter")
    form.get_by_label("Note").fill("Smith & Co, 555-0100")
    form.get_by_role("button", name="Add the stop").click()
    stop = section.get_by_test_id("stop-attorney")
    expect(stop).to_contain_text("Attorney represented")
    expect(stop).to_contain_text("Attorney's letter")
    expect(page.get_by_test_id("preferences-notice")).to_contain_text("recorded")

    # Preferred hours: first outside the legal window (refused beside the
    # field, nothing saved), then 10:00 to 17:00.
    form = open_form(page, "Change preferred hours")
    form.get_by_label("From", exact=True).fill("07:00")
    form.get_by_label("To", exact=True).fill("17:00")
    form.get_by_role("button", name="Save the hours").click()
    start = page.locator(f"{SECTION} #pref-hours-preferred_from")
    expect(start).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#pref-hours-preferred_from_error")).to_contain_text("legal window")
    expect(page.get_by_test_id("form-errors")).to_be_focused()
    assert_accessible(page, "the section with a refused form", context=SECTION)
    form = page.get_by_test_id("form-hours")  # still open, with what was typed
    form.get_by_label("From", exact=True).fill("10:00")
    form.get_by_role("button", name="Save the hours").click()
    expect(page.get_by_test_id("preferred-hours")).to_contain_text("10:00–17:00")

    # A telephone conversation about the debt (Regulation F's 7 days).
    form = open_form(page, "Record a conversation")
    form.get_by_label("Note").fill("Promised to pay on Friday")
    form.get_by_role("button", name="Record the conversation").click()
    expect(page.get_by_test_id("conversations")).to_contain_text("Promised to pay on Friday")

    # Every form open: labels, legends, headings and contrast hold for all.
    closed = page.locator(f"{SECTION} details:not([open]) > summary")
    while closed.count():
        closed.first.click()
    assert_accessible(page, "the contact preferences section", context=SECTION)

    phone.refresh_from_db()
    assert phone.sms_opted_out and phone.sms_opt_out_source == "Phone call"
    assert not phone.voice_opted_out
    assert LegalStop.objects.get().kind == LegalStop.Kind.ATTORNEY
    preference = ContactPreference.objects.get(pk=account.debtor_id)
    assert (preference.preferred_from, preference.preferred_to) == (dt.time(10), dt.time(17))
    assert Conversation.objects.get().note == "Promised to pay on Friday"
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == [
        "contact_point.channel_changed",
        "contact_preference.hours_changed",
        "conversation.recorded",
        "legal_stop.added",
    ]
    assert set(AuditEvent.objects.values_list("actor_id", flat=True)) == {collector.pk}
    watcher.assert_clean()


def test_without_javascript_the_forms_still_work(live_server, browser, setting):
    collector, account, phone = setting
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in(page, live_server.url, collector)
        page.goto(f"{live_server.url}/accounts/{account.pk}/")
        page.get_by_role("link", name="Change contact preferences").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("contact preferences")
        voice = page.get_by_test_id(f"channel-phone-{phone.pk}-voice")
        voice.locator("summary").click()  # <details> needs no script
        voice.get_by_label("Opted out").select_option("yes")
        voice.get_by_label("Source").fill("Letter")
        voice.get_by_role("button", name="Save").click()
        expect(page).to_have_url(re.compile(rf"/accounts/{account.pk}/#contact-preferences$"))
        expect(page.get_by_role("alert")).to_contain_text("Voice at ***-***-0142 saved")
        cell = page.get_by_test_id(f"channel-phone-{phone.pk}-voice").get_by_test_id("opted-out")
        expect(cell).to_contain_text("Letter")

        # A refusal: the section on a page of its own, the form open with its error.
        page.get_by_role("link", name="Change contact preferences").click()
        form = open_form(page, "Set do not contact")
        form.get_by_role("button", name="Set do not contact").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("contact preferences")
        expect(page.locator("#pref-dnc-source_error")).to_contain_text("Say who asked")
        assert not ContactPreference.objects.filter(do_not_contact=True).exists()
        # (No axe-core here: it runs as a script, and this page runs none.)
    finally:
        context.close()
