"""The bulk write-off file in a real browser (Chromium through Playwright)
with a REAL Celery worker: a Supervisor uploads a file of account IDs, sees
the preview with its ineligible rows and their reasons, saves it, and reads
on the operation's page the account that failed when it ran and why.
Every page passes axe-core."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Account, AccountStatus
from accounts.roles import SUPERVISOR
from billing.models import Claim, LedgerEntry
from billing.selectors import find_balance_discrepancies
from billing.services import post_ledger_entry
from tests.bulkops.conftest import make_accounts
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import log_in
from tests.factories import AccountStatusFactory, CompanyFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


@pytest.fixture
def write_off_data(roles):
    company = CompanyFactory(name="Acme Recovery")
    supervisor = UserFactory(
        username="sue", first_name="Sue", last_name="Pervisor", company=company, role=SUPERVISOR
    )
    default = AccountStatusFactory(name="In default", category=AccountStatus.Category.DEFAULT)
    active = AccountStatusFactory(name="Active")
    make_accounts(4, company=company, status=default, prefix="W")
    accounts = list(Account.objects.order_by("file_number"))
    today = timezone.localdate()
    for days, account in zip((60, 5, 200, 30), accounts, strict=True):
        Account.objects.filter(pk=account.pk).update(default_date=today - dt.timedelta(days=days))
    Account.objects.filter(pk=accounts[3].pk).update(status=active)
    for n, account in enumerate(accounts):
        claim = Claim.objects.create(
            account=account, reference=f"INV-{n}", original_amount=Decimal("40.00"),
            due_date=today,
        )  # fmt: skip
        post_ledger_entry(
            account=account, kind=LedgerEntry.Kind.CHARGE, amount=Decimal("40.00"), claim=claim
        )
    return supervisor, accounts


def test_upload_preview_save_and_read_the_failures(
    live_server, page, celery_worker, write_off_data, tmp_path
):
    supervisor, accounts = write_off_data
    watcher = log_in(page, live_server.url, supervisor)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Bulk Write-off").click()
    expect(page.get_by_role("heading", name="Bulk Write-off")).to_be_visible()
    assert_accessible(page, "the write-off file upload")

    # A file with a heading, a blank line, a repeat and an unknown account.
    path = tmp_path / "write-offs.csv"
    numbers = [a.file_number for a in accounts]
    path.write_text("Account ID\n" + "\n".join([*numbers, "", numbers[0], "NOPE-9"]) + "\n")
    page.get_by_label("File of account IDs").set_input_files(str(path))
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_test_id("write-off-summary")).to_contain_text(
        "3 of 5 accounts can be written off; 2 cannot"
    )
    rows = page.get_by_test_id("write-off-preview").locator("tbody tr")
    expect(rows).to_have_count(5)
    # By days since default, ascending: 5, 30, 60, 200, then the unknown one.
    expect(rows.nth(0)).to_contain_text(numbers[1])
    expect(rows.nth(1)).to_contain_text(numbers[3])
    expect(rows.nth(1)).to_contain_text("No: The account is not in a default state")
    expect(rows.nth(4)).to_contain_text("NOPE-9")
    expect(rows.nth(4)).to_contain_text("No: The account does not exist.")
    assert_accessible(page, "the write-off file preview")

    # Terminated after the preview: it fails when the operation runs.
    Account.objects.filter(pk=accounts[2].pk).update(terminated_on=timezone.localdate())
    page.get_by_label("Notes").fill("Uncollectible Q4")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    bar = page.get_by_test_id("progress").get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=45_000)
    outcomes = page.get_by_test_id("outcomes").locator("tbody tr")
    failed = outcomes.filter(has_text=numbers[2])
    expect(failed).to_contain_text("The account has already been terminated.")
    assert_accessible(page, "the write-off operation's outcomes")

    balances = dict(Account.objects.values_list("file_number", "current_balance"))
    assert balances[numbers[0]] == balances[numbers[1]] == Decimal("0.00")
    assert balances[numbers[2]] == balances[numbers[3]] == Decimal("40.00")
    assert find_balance_discrepancies() == []
    watcher.assert_clean()
