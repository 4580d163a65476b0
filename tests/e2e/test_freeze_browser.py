"""Bulk Freeze and Bulk Freeze Rollback in a real browser (Chromium through
Playwright) with a REAL Celery worker: a Supervisor freezes three accounts
from the grid with a cancellation reason and notes, opens the list of
frozen customers, re-activates one subscription with its Rollback button,
then rolls two customers back at once through the engine's dialog. Every
page and dialog passes axe-core."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Account, AccountStatus
from accounts.roles import SUPERVISOR
from billing.models import AccountFreeze, CancellationReason, Subscription, SubscriptionFreeze
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
def frozen_data(roles):
    company = CompanyFactory(name="Acme Recovery")
    supervisor = UserFactory(
        username="sue", first_name="Sue", last_name="Pervisor", company=company, role=SUPERVISOR
    )
    active = AccountStatusFactory(name="Active", sort_order=1)
    frozen = AccountStatusFactory(
        name="Frozen", category=AccountStatus.Category.FROZEN, sort_order=2
    )
    # The platform's default reasons (a migration's rows, flushed between such tests).
    CancellationReason.objects.get_or_create(company=None, name="Service dispute")
    ids = make_accounts(5, company=company, status=active, prefix="F")
    Subscription.objects.bulk_create(
        Subscription(account_id=pk, service_name=name) for pk in ids for name in ("Fibre 100", "TV")
    )
    return supervisor, active, frozen


def test_freeze_from_the_grid_then_roll_back_one_subscription_and_two_customers(
    live_server, page, celery_worker, frozen_data
):
    supervisor, active, frozen = frozen_data
    watcher = log_in(page, live_server.url, supervisor)

    # Bulk Freeze three accounts: a cancellation reason and notes.
    for box in row_boxes(page).all()[:3]:
        box.check()
    expect(counter(page)).to_have_text("3 selected of 5")
    dialog = open_dialog(page, "Bulk Freeze")
    expect(dialog.get_by_label("Frozen status")).to_have_value(str(frozen.pk))
    dialog.get_by_label("Cancellation reason").select_option(label="Service dispute")
    dialog.get_by_label("Notes").fill("Asked   by phone")
    assert_accessible(page, "the Bulk Freeze dialog")
    dialog.get_by_role("button", name="Freeze", exact=True).click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    wait_until_finished(page, "Bulk Freeze", "3 frozen, 0 skipped, 0 failed.")
    frozen_ids = set(Account.objects.filter(status=frozen).values_list("file_number", flat=True))
    assert len(frozen_ids) == 3
    assert Subscription.objects.filter(status=Subscription.Status.FROZEN).count() == 6

    # The list of frozen customers, with their subscriptions.
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Bulk Freeze Rollback"
    ).click()
    expect(page.get_by_role("heading", name="Bulk Freeze Rollback")).to_be_visible()
    table = page.get_by_test_id("frozen")
    expect(table.locator("tr[data-freeze]")).to_have_count(3)
    expect(table).to_contain_text("Service dispute")
    expect(table).to_contain_text("Asked by phone")
    assert_accessible(page, "the list of frozen customers")

    # One subscription's Rollback: re-activated, the customer stays frozen.
    first = sorted(frozen_ids)[0]
    table.get_by_role("button", name=f"Rollback TV of {first}").click()
    expect(page.get_by_text(f"TV of {first} is re-activated.")).to_be_visible()
    tv = Subscription.objects.get(account__file_number=first, service_name="TV")
    assert tv.status == Subscription.Status.ACTIVE
    assert Account.objects.get(file_number=first).status_id == frozen.pk
    tv_freeze = SubscriptionFreeze.objects.get(subscription=tv)
    tv_row = page.get_by_test_id("frozen").locator(f'tr[data-subscription-freeze="{tv_freeze.pk}"]')
    expect(tv_row).to_contain_text("Re-activated")
    expect(tv_row.get_by_role("button")).to_have_count(0)

    # Two customers at once, through the engine's dialog and progress.
    for box in page.get_by_test_id("frozen").locator("input[name=freeze]").all()[:2]:
        box.check()
    page.get_by_role("button", name="Rollback selected").click()
    dialog = page.get_by_test_id("bulk-dialog")
    expect(dialog.get_by_test_id("dialog-count")).to_have_text(
        "This will apply to 2 frozen customers."
    )
    assert_accessible(page, "the Rollback dialog")
    dialog.get_by_role("button", name="Rollback", exact=True).click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    wait_until_finished(page, "Rollback", "2 re-activated, 0 skipped, 0 failed.")
    assert Account.objects.filter(status=frozen).count() == 1
    assert Account.objects.filter(status=active).count() == 4
    assert AccountFreeze.objects.filter(rolled_back_at=None).count() == 1
    # The customer left frozen is the one whose TV came back alone (the list
    # shows the newest freeze first, and the first two were ticked).
    assert Account.objects.get(status=frozen).file_number == first
    assert list(
        Subscription.objects.filter(status=Subscription.Status.FROZEN).values_list(
            "account__file_number", "service_name"
        )
    ) == [(first, "Fibre 100")]
    watcher.assert_clean()
