"""The Journal tab in Chromium: a collector filters the journal by claim,
sorts it, and downloads its CSV, which holds the filtered entries with the
running balance. The tab passes axe-core."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.roles import COLLECTOR
from billing import services as billing
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import log_in
from tests.factories import AccountFactory, ClaimFactory, CompanyFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


def test_filter_the_journal_and_download_its_csv(live_server, page, roles):
    company = CompanyFactory(name="Acme Recovery")
    collector = UserFactory(username="cole", company=company, role=COLLECTOR)
    account = AccountFactory(company=company)
    first = ClaimFactory(account=account, reference="INV-101")
    second = ClaimFactory(account=account, reference="INV-202")
    billing.post_ledger_entry(account=account, kind="charge", amount=Decimal("100"), claim=first)
    billing.post_ledger_entry(account=account, kind="charge", amount=Decimal("50"), claim=second)
    billing.post_ledger_entry(account=account, kind="payment", amount=Decimal("-30"), claim=first)

    log_in(page, live_server.url, collector)
    page.goto(f"{live_server.url}/accounts/{account.pk}/?tab=journal")
    journal = page.get_by_test_id("account-journal")
    expect(journal.locator("tr[data-entry]")).to_have_count(3)
    assert_accessible(page, "the Journal tab")

    page.get_by_role("button", name="Claim").click()
    page.get_by_label("INV-101").check()
    page.get_by_role("group", name="Claim").get_by_role("button", name="Filter").click()
    expect(journal.locator("tr[data-entry]")).to_have_count(2)
    expect(journal.locator("tbody")).not_to_contain_text("INV-202")
    # The running balance is the account's, whatever the filter: 100, 150, 120.
    expect(journal.locator("tr[data-entry]").first).to_contain_text("120.00")

    journal.get_by_role("link", name="Date").click()  # oldest first now
    expect(journal.locator("tr[data-entry]").first).to_contain_text("100.00")
    assert_accessible(page, "the filtered Journal")

    with page.expect_download() as download_info:
        journal.get_by_test_id("journal-csv").click()
    download = download_info.value
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0][:2] == ["Date", "Claim ID"]
    assert [r[1] for r in rows[1:]] == ["INV-101", "INV-101"]
    assert [r[8] for r in rows[1:]] == ["100.00", "120.00"]
