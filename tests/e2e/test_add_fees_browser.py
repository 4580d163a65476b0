"""Add Fees in a real browser (Chromium through Playwright) with a REAL
Celery worker: a Supervisor selects accounts, chooses % of Balance in the
dialog, proceeds to verification, reads the Fees to Apply and the total,
sorts them, confirms, and the worker posts exactly those fees on new
invoices. The dialog and the verification pass axe-core."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Account
from accounts.roles import SUPERVISOR
from billing.models import Claim, LedgerEntry, ServiceType
from billing.selectors import find_balance_discrepancies
from billing.services import post_ledger_entry
from tests.bulkops.conftest import make_accounts
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_bulk_browser import open_dialog, wait_until_finished
from tests.e2e.test_grid_browser import counter, log_in, row_boxes
from tests.factories import AccountStatusFactory, CompanyFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


@pytest.fixture
def fee_data(roles):
    company = CompanyFactory(name="Acme Recovery")
    supervisor = UserFactory(
        username="sue", first_name="Sue", last_name="Pervisor", company=company, role=SUPERVISOR
    )
    # The platform's "Fee" service type (a migration's row, flushed between such tests).
    ServiceType.objects.get_or_create(company=None, name="Fee")
    make_accounts(3, company=company, status=AccountStatusFactory(name="Active"), prefix="G")
    accounts = list(Account.objects.order_by("file_number"))
    for account, amount in zip(accounts, ("120.00", "33.35"), strict=False):
        claim = Claim.objects.create(
            account=account, reference="INV-1", original_amount=Decimal(amount),
            due_date=timezone.localdate(),
        )  # fmt: skip
        post_ledger_entry(account=account, kind=LedgerEntry.Kind.CHARGE, amount=amount, claim=claim)
    return supervisor, accounts


def test_add_fees_through_verification_to_confirmation(live_server, page, celery_worker, fee_data):
    supervisor, accounts = fee_data
    watcher = log_in(page, live_server.url, supervisor)
    for box in row_boxes(page).all():
        box.check()
    expect(counter(page)).to_have_text("3 selected of 3")

    dialog = open_dialog(page, "Add Fees")
    dialog.get_by_label("Fee Service Type").select_option(label="Fee")
    dialog.get_by_label("Billing Accounts").check()
    dialog.get_by_label("Fee", exact=True).select_option(label="% of Balance")
    dialog.get_by_label("Percentage (%)").fill("10")
    assert_accessible(page, "the Add Fees dialog")
    dialog.get_by_role("button", name="Proceed to Verification").click()

    verification = page.get_by_test_id("fee-verification")
    expect(verification).to_be_visible()
    expect(page.get_by_test_id("fee-accounts")).to_have_text("2")
    expect(page.get_by_test_id("fee-total")).to_have_text("$15.34")  # 12.00 + 3.335 → 3.34
    expect(verification).to_contain_text("No balance to charge a fee on")
    rows = page.get_by_test_id("fee-rows").locator("tbody tr")
    expect(rows.first).to_contain_text("$12.00")  # the largest fee first
    page.get_by_test_id("fee-rows").get_by_role("button", name="File Number").click()
    expect(page.get_by_test_id("fee-rows").locator("tbody tr").first).to_contain_text(
        accounts[0].file_number
    )
    assert_accessible(page, "the Add Fees verification")
    page.get_by_test_id("bulk-preview").get_by_role("button", name="Add Fees").click()

    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    wait_until_finished(page, "Add Fees", "2 charged, 0 skipped, 0 failed.")
    balances = dict(Account.objects.values_list("file_number", "current_balance"))
    assert balances[accounts[0].file_number] == Decimal("132.00")
    assert balances[accounts[1].file_number] == Decimal("36.69")
    assert balances[accounts[2].file_number] == Decimal("0.00")
    assert Claim.objects.filter(reference__startswith="FEE-", service_type__name="Fee").count() == 2
    assert find_balance_discrepancies() == []
    watcher.assert_clean()
