"""Bulk actions in a real browser (Chromium through Playwright) against
``live_server``, with a REAL Celery worker on the same test database: a
Supervisor selects accounts in the grid, confirms Assign To in the dialog,
watches the operation run to the end, reads the outcomes and the audit log.
A double-clicked Confirm makes one operation."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account, AccountStatus
from accounts.roles import COLLECTOR, SUPERVISOR
from bulkops.models import AuditEvent, BulkOperation, BulkOperationItem
from tests.bulkops.conftest import make_accounts
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import apply_status, counter, log_in, row_boxes
from tests.e2e.toolbar import click_action
from tests.factories import AccountStatusFactory, CompanyFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    # WhiteNoise looks for collectstatic's output; live_server serves the finders.
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

ACTIVE, DISPUTE = 40, 10
FINISH_TIMEOUT_MS = 45_000


@dataclass
class BulkData:
    supervisor: object
    cora: object
    colin: object
    outsider: object
    statuses: dict[str, AccountStatus]


@pytest.fixture
def bulk_data(roles) -> BulkData:
    company = CompanyFactory(name="Acme Recovery")
    other = CompanyFactory(name="Other Agency")
    supervisor = UserFactory(
        username="sue", first_name="Sue", last_name="Pervisor", company=company, role=SUPERVISOR
    )
    cora = UserFactory(
        username="cora", first_name="Cora", last_name="Collector", company=company, role=COLLECTOR
    )
    colin = UserFactory(
        username="colin", first_name="Colin", last_name="Coll", company=company, role=COLLECTOR
    )
    outsider = UserFactory(
        username="otto", first_name="Otto", last_name="Outsider", company=other, role=COLLECTOR
    )
    statuses = {
        "Active": AccountStatusFactory(name="Active", sort_order=1),
        "Dispute": AccountStatusFactory(name="Dispute", sort_order=2),
    }
    make_accounts(ACTIVE, company=company, status=statuses["Active"], prefix="A")
    make_accounts(DISPUTE, company=company, status=statuses["Dispute"], prefix="D")
    return BulkData(supervisor, cora, colin, outsider, statuses)


def open_dialog(page: Page, label: str):
    click_action(page, label)
    dialog = page.get_by_test_id("bulk-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name=label)).to_be_visible()
    # The modal is a dialog named by that heading (it had no name).
    expect(page.get_by_role("dialog", name=label)).to_be_visible()
    return dialog


def add_assignment(dialog, collector, count: int):
    dialog.locator("#assign-collector").fill(str(collector))
    dialog.locator("#assign-count").fill(str(count))
    dialog.locator("[data-assign-add]").click()


def wait_until_finished(page: Page, label: str, summary: str):
    """The progress bar, polled by htmx, reaches 100 % and the notice shows."""
    bar = page.get_by_test_id("progress").get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=FINISH_TIMEOUT_MS)
    expect(bar).to_have_text("100 %")
    notice = page.get_by_test_id("finished-notice")
    expect(notice).to_be_visible(timeout=FINISH_TIMEOUT_MS)
    expect(notice).to_have_text(f"{label} finished: succeeded. {summary}")
    expect(page.get_by_test_id("progress")).to_have_attribute("data-status", "succeeded")


def test_assign_to_from_the_grid_runs_on_the_worker(live_server, page, celery_worker, bulk_data):
    data = bulk_data
    watcher = log_in(page, live_server.url, data.supervisor)

    # Filter, select every matching account, exclude one.
    apply_status(page, "Active")
    expect(counter(page)).to_have_text(f"0 selected of {ACTIVE}")
    page.locator("#select-all").check()
    expect(counter(page)).to_have_text(f"{ACTIVE} selected of {ACTIVE}")
    excluded = int(row_boxes(page).first.get_attribute("value"))
    row_boxes(page).first.uncheck()
    expect(counter(page)).to_have_text(f"{ACTIVE - 1} selected of {ACTIVE}")
    expect(page.get_by_test_id("select-all-badge")).to_have_text("All matching, 1 excluded")

    # The dialog: two collectors with their numbers of accounts.
    dialog = open_dialog(page, "Assign To")
    expect(dialog.get_by_test_id("dialog-count")).to_have_text(
        f"This will apply to {ACTIVE - 1} accounts."
    )
    names = [o.get_attribute("value") for o in dialog.locator("#assign-collectors option").all()]
    assert {str(data.cora), str(data.colin), "Unassign"} <= set(names)
    assert str(data.outsider) not in names  # another company's collector
    # Credit Payments says which payments each choice moves.
    expect(dialog.locator("#credit-payments-help")).to_contain_text(
        "Declined payments stay where they are"
    )
    add_assignment(dialog, data.cora, 20)
    add_assignment(dialog, data.colin, 10)
    assignments = dialog.get_by_role("table", name="Assignment list")
    expect(assignments.locator("tbody tr")).to_have_count(2)
    expect(assignments.locator("tbody tr").nth(0)).to_contain_text(f"{data.cora}20")
    expect(assignments.locator("tbody tr").nth(1)).to_contain_text(f"{data.colin}10")
    expect(dialog.locator("[data-assign-total]")).to_have_text("30")
    expect(assignments.get_by_role("button", name=f"Remove {data.colin}")).to_be_visible()
    assert_accessible(page, "the Assign To dialog with two collectors")
    dialog.get_by_role("button", name="Assign", exact=True).click()

    # The operation's page: the progress bar runs to the end.
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    operation = BulkOperation.objects.get()
    assert page.url.endswith(f"/bulk/{operation.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        f"#{operation.pk} · Assign To {data.cora} (20), {data.colin} (10)"
    )
    wait_until_finished(page, "Assign To", "30 changed, 0 skipped, 0 failed.")
    expect(page.get_by_test_id("progress-text")).to_contain_text("30 of 30 processed")

    # What the worker did, in the database: 20 + 10 accounts, never the excluded one.
    operation.refresh_from_db()
    assert (operation.status, operation.total, operation.succeeded) == ("succeeded", 30, 30)
    assert Account.objects.filter(assigned_to=data.cora).count() == 20
    assert Account.objects.filter(assigned_to=data.colin).count() == 10
    assert Account.objects.filter(assigned_to__isnull=False).count() == 30
    assert not operation.items.filter(target_id=excluded).exists()
    assert not Account.objects.filter(pk=excluded, assigned_to__isnull=False).exists()
    assigned = AuditEvent.objects.filter(bulk_operation=operation, action="account.assigned")
    assert assigned.count() == 30
    assert set(assigned.values_list("object_id", flat=True)) == set(
        operation.items.values_list("target_id", flat=True)
    )

    # The outcomes, filtered.
    outcomes_form = page.get_by_role("form", name="Filter outcomes")
    outcomes_form.get_by_label("Outcome").select_option(label="Done")
    outcomes_form.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]outcome=done"))
    outcomes = page.get_by_test_id("outcomes").locator("tbody tr")
    expect(outcomes).to_have_count(30)
    texts = outcomes.all_inner_texts()
    assert all("Done" in text for text in texts)
    shown = {text.split()[0] for text in texts}
    drawn = set(
        Account.objects.filter(pk__in=operation.items.values("target_id")).values_list(
            "file_number", flat=True
        )
    )
    assert shown == drawn
    assert Account.objects.get(pk=excluded).file_number not in shown
    outcomes_form = page.get_by_role("form", name="Filter outcomes")
    outcomes_form.get_by_label("Outcome").select_option(label="Skipped")
    outcomes_form.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]outcome=skipped"))
    expect(outcomes).to_have_count(1)
    expect(outcomes).to_have_text("No accounts with this outcome.")

    # The audit log of the operation: one assignment event per account.
    page.get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(re.compile(rf"/bulk/audit/\?bulk_operation={operation.pk}$"))
    events = page.get_by_test_id("audit-events").locator("tbody tr")
    expect(events).to_have_count(31)  # 30 assignments + the start of the operation
    expect(events.filter(has_text="account.assigned")).to_have_count(30)
    expect(events.filter(has_text="bulk_operation.started")).to_have_count(1)
    # Foreign keys read as names in the audit log.
    to_cora = re.compile(rf"assigned to: — → {re.escape(str(data.cora))}")
    expect(events.filter(has_text="account.assigned").filter(has_text=to_cora)).to_have_count(20)
    for text in events.filter(has_text="account.assigned").all_inner_texts():
        assert str(data.supervisor) in text and f"#{operation.pk}" in text
    watcher.assert_clean()


def test_double_clicked_confirm_makes_one_operation(live_server, page, celery_worker, bulk_data):
    data = bulk_data
    watcher = log_in(page, live_server.url, data.supervisor)
    confirms = []
    page.on(
        "request",
        lambda r: confirms.append(r.url) if r.method == "POST" and "/confirm/" in r.url else None,
    )
    apply_status(page, "Dispute")
    expect(counter(page)).to_have_text(f"0 selected of {DISPUTE}")
    page.locator("#select-all").check()
    expect(counter(page)).to_have_text(f"{DISPUTE} selected of {DISPUTE}")

    dialog = open_dialog(page, "Change Status To")
    expect(dialog.get_by_test_id("dialog-count")).to_have_text(
        f"This will apply to {DISPUTE} accounts."
    )
    # Not get_by_label("New status"): the dialog's <select>
    # repeats the id of the grid's Status filter, so the label points there.
    dialog.locator("select[name=status]").select_option(label="Active")
    assert_accessible(page, "the Change Status To dialog")
    form_data = dialog.evaluate("form => Object.fromEntries(new FormData(form))")
    dialog.get_by_role("button", name="Change", exact=True).dblclick()

    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    wait_until_finished(page, "Change Status To", f"{DISPUTE} changed, 0 skipped, 0 failed.")
    assert 1 <= len(confirms) <= 2, confirms
    operation = BulkOperation.objects.get()  # exactly one
    assert page.url.endswith(f"/bulk/{operation.pk}/")

    # The same confirmation sent again (a second click that got through, a
    # resubmitted form): the same operation, nothing new, nothing run twice.
    response = page.request.post(confirms[0], form=form_data)
    assert response.ok and response.url.endswith(f"/bulk/{operation.pk}/"), response.url
    assert BulkOperation.objects.count() == 1
    operation.refresh_from_db()
    assert (operation.total, operation.processed, operation.succeeded) == (DISPUTE,) * 3
    settled = operation.items.with_settled_outcome()
    assert settled.filter(settled_outcome=BulkOperationItem.Outcome.DONE).count() == DISPUTE
    changed = AuditEvent.objects.filter(bulk_operation=operation, action="account.status_changed")
    assert changed.count() == DISPUTE
    assert changed.values("object_id").distinct().count() == DISPUTE
    assert Account.objects.filter(status=data.statuses["Active"]).count() == ACTIVE + DISPUTE
    watcher.assert_clean()


def test_write_off_balances_from_the_grid(live_server, page, celery_worker, bulk_data):
    """Billing's Write Off Balances, registered from its own module: the
    accounts that owe get a coupon on the real worker, the others are
    skipped with the reason, and the journal shows the coupon."""
    from billing.models import LedgerEntry
    from billing.services import post_ledger_entry

    data = bulk_data
    disputes = list(Account.objects.filter(status=data.statuses["Dispute"]).order_by("pk"))
    owing = disputes[:6]
    for account in owing:
        post_ledger_entry(account=account, kind=LedgerEntry.Kind.CHARGE, amount="125.50")
    watcher = log_in(page, live_server.url, data.supervisor)
    apply_status(page, "Dispute")
    expect(counter(page)).to_have_text(f"0 selected of {DISPUTE}")
    page.locator("#select-all").check()
    expect(counter(page)).to_have_text(f"{DISPUTE} selected of {DISPUTE}")

    dialog = open_dialog(page, "Write Off Balances")
    expect(dialog).to_contain_text("Accounts with no positive balance are skipped.")
    dialog.get_by_label("Notes").fill("Statute of limitations")
    assert_accessible(page, "the Write Off Balances dialog")
    dialog.get_by_role("button", name="Write off", exact=True).click()

    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    wait_until_finished(
        page, "Write Off Balances", f"6 written off, {DISPUTE - 6} skipped, 0 failed."
    )
    assert_accessible(page, "a finished Write Off Balances operation")
    outcomes_form = page.get_by_role("form", name="Filter outcomes")
    outcomes_form.get_by_label("Outcome").select_option(label="Skipped")
    outcomes_form.get_by_role("button", name="Filter").click()
    outcomes = page.get_by_test_id("outcomes").locator("tbody tr")
    expect(outcomes).to_have_count(DISPUTE - 6)
    expect(outcomes.first).to_contain_text("No positive balance to write off")
    assert all(Account.objects.get(pk=a.pk).current_balance == 0 for a in owing), (
        "every owing account is cleared"
    )

    page.goto(f"{live_server.url}/accounts/{owing[0].pk}/?tab=journal")
    expect(page.get_by_text("Write Off Balances: Statute of limitations")).to_be_visible()
    watcher.assert_clean()
