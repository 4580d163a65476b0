"""The grid's As of Date and Balance as of in Chromium: a supervisor adds
the Balance as of column, sets an As of Date and a Balance as of range
under "More filters", and sees the accounts that owed that much then, with
what they owed; a date in the future is refused with a notice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.roles import SUPERVISOR
from billing.models import LedgerEntry
from billing.services import post_ledger_entry
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import log_in
from tests.factories import AccountFactory, CompanyFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


def _post(account, kind, amount, days_ago):
    entry = post_ledger_entry(account=account, kind=kind, amount=Decimal(amount))
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    noon = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
    LedgerEntry.objects.filter(pk=entry.pk).update(posted_at=noon)


def test_balance_as_of_filters_and_shows_what_was_owed_then(live_server, page, roles):
    company = CompanyFactory(name="Acme Recovery")
    supervisor = UserFactory(username="sue", company=company, role=SUPERVISOR)
    paid = AccountFactory(company=company, file_number="F0000001", current_balance=0)
    owing = AccountFactory(company=company, file_number="F0000002", current_balance=0)
    _post(paid, "charge", "300.00", 5)
    _post(paid, "payment", "-300.00", 1)  # paid off yesterday
    _post(owing, "charge", "50.00", 5)
    three_days_ago = (timezone.localdate() - dt.timedelta(days=3)).isoformat()

    log_in(page, live_server.url, supervisor)
    page.get_by_role("button", name="Columns").click()
    chooser = page.get_by_role("form", name="Choose columns")
    chooser.get_by_label("Balance as of", exact=True).check()
    chooser.get_by_role("button", name="Save columns").click()
    expect(page.get_by_role("alert")).to_have_text("Columns saved.")
    expect(page.locator("#accounts-table thead")).to_contain_text("Balance as of")

    form = page.get_by_role("form", name="Filters")
    details = form.locator("details")
    if details.get_attribute("open") is None:
        details.locator("summary", has_text="More filters").click()
    form.get_by_label("As of Date").fill(three_days_ago)
    form.get_by_label("Balance as of from").fill("100")
    form.get_by_role("button", name="Apply filters").click()

    rows = page.locator("#accounts-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("F0000001")
    expect(rows.first).to_contain_text("$300.00")  # owed then, nothing now
    expect(rows.first).to_contain_text("$0.00")
    assert_accessible(page, "the grid filtered by Balance as of")

    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    page.goto(f"{live_server.url}/accounts/?as_of={tomorrow}")
    expect(page.get_by_test_id("grid-notice")).to_contain_text(
        "As of Date: The As of Date cannot be in the future. This filter was ignored."
    )
    expect(rows).to_have_count(2)
