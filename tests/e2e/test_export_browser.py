"""Export Accounts in a real browser (Chromium through Playwright) against
``live_server``, with a REAL Celery worker on the same test database: a
Supervisor selects accounts in the grid, opens Export, picks a template a
colleague shared, moves a column, saves that as a template, confirms, waits for the operation to finish
and downloads the file; its bytes are checked."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.roles import SUPERVISOR
from billing.services import post_ledger_entry
from bulkops.models import AuditEvent, BulkOperation, ExportTemplate
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import counter, log_in
from tests.e2e.toolbar import click_action
from tests.e2e.waiting import wait_until
from tests.factories import (
    AccountFactory,
    AccountStatusFactory,
    BulkOperationFactory,
    ClientFactory,
    CompanyFactory,
    DebtorEmailFactory,
    DebtorFactory,
    PortfolioFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.e2e,
    # WhiteNoise looks for collectstatic's output; live_server serves the finders.
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

FINISH_TIMEOUT_MS = 45_000
TEMPLATE = "Collections list"


@pytest.fixture
def export_data(roles):
    company = CompanyFactory(name="Acme Recovery")
    supervisor = UserFactory(
        username="sue", first_name="Sue", last_name="Pervisor", company=company, role=SUPERVISOR
    )
    colleague = UserFactory(
        username="carl", first_name="Carl", last_name="Colleague", company=company, role=SUPERVISOR
    )
    status = AccountStatusFactory(name="Active", sort_order=1)
    portfolio = PortfolioFactory(client=ClientFactory(name="Northwind Bank"))
    debtors = [
        DebtorFactory(first_name="Zoë", last_name="Müller"),
        DebtorFactory(first_name="=SUM(A1)", last_name="Smith"),
        DebtorFactory(first_name="Ann", last_name="O'Neil"),
        DebtorFactory(first_name="Not", last_name="Selected"),
    ]
    DebtorEmailFactory(debtor=debtors[0], address="zoe@example.com")
    DebtorEmailFactory(debtor=debtors[2], address="ann@example.org")
    accounts = [
        AccountFactory(
            company=company,
            file_number=f"E{i + 1:07d}",
            portfolio=portfolio,
            client=portfolio.client,
            debtor=debtor,
            status=status,
        )
        for i, debtor in enumerate(debtors)
    ]
    for account, amount in zip(accounts, ["1234.50", "0.10", "99.99"], strict=False):
        post_ledger_entry(account=account, kind="charge", amount=Decimal(amount))
    ExportTemplate.objects.create(
        name=TEMPLATE,
        owner=colleague,
        company=company,
        shared=True,
        format="csv",
        columns=[
            {"key": "file_number", "mask": False},
            {"key": "debtor", "mask": False},
            {"key": "email", "mask": True},
            {"key": "current_balance", "mask": False},
        ],
    )
    return supervisor, accounts


@pytest.fixture
def exports_cleanup():
    """The worker writes to the shared media folder: remove what the test made."""
    before = set(BulkOperation.objects.values_list("pk", flat=True))
    yield
    for pk in set(BulkOperation.objects.values_list("pk", flat=True)) - before:
        shutil.rmtree(Path(settings.MEDIA_ROOT) / "exports" / str(pk), ignore_errors=True)


def column_keys(dialog) -> list[str]:
    return [
        row.get_attribute("data-export-column")
        for row in dialog.locator("tr[data-export-column]").all()
    ]


def test_export_from_the_grid_with_a_shared_template(
    live_server, page: Page, celery_worker, export_data, exports_cleanup
):
    supervisor, accounts = export_data
    watcher = log_in(page, live_server.url, supervisor)
    expect(counter(page)).to_have_text("0 selected of 4")
    for account in accounts[:3]:
        page.get_by_label(f"Select {account.file_number}").check()
    expect(counter(page)).to_have_text("3 selected of 4")

    click_action(page, "Export")
    dialog = page.get_by_test_id("bulk-dialog")
    expect(dialog.get_by_role("heading", name="Export")).to_be_visible()
    expect(dialog.get_by_test_id("dialog-count")).to_have_text("This will apply to 3 accounts.")

    # No column ticked: the dialog says so (a 422 the dialog shows) and nothing runs.
    ticked = dialog.locator("input[name=columns]:checked")
    for _ in range(ticked.count()):
        ticked.first.uncheck()
    expect(ticked).to_have_count(0)
    dialog.get_by_role("button", name="Export", exact=True).click()
    expect(dialog.get_by_test_id("columns-error")).to_have_text(
        "Choose at least one column to export."
    )
    assert not BulkOperation.objects.exists()
    # Let htmx finish settling the re-rendered dialog: until then the new
    # template <select> has no change handler and a pick would go unheard.
    wait_until(
        page, "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )

    # Picking the shared template fills the columns, their order and masks.
    dialog.get_by_label("Saved template").select_option(
        label=f"{TEMPLATE} (shared by Carl Colleague)"
    )
    rows = dialog.locator("tr[data-export-column]")
    expect(rows.nth(1)).to_have_attribute("data-export-column", "debtor")
    assert column_keys(dialog)[:4] == ["file_number", "debtor", "email", "current_balance"]
    expect(dialog.locator("input[name=columns]:checked")).to_have_count(4)
    expect(dialog.get_by_label("Mask Email")).to_be_checked()
    expect(dialog.get_by_label("Mask Debtor")).not_to_be_checked()
    expect(dialog.get_by_label("Format")).to_have_value("csv")
    # The arrows set the order: Email before Debtor.
    dialog.get_by_role("button", name="Move Email up").click()
    expect(rows.nth(1)).to_have_attribute("data-export-column", "email")
    # Saved as the user's own template: the dialog keeps the choice and selects it.
    dialog.get_by_label("Template name").fill("My list")
    dialog.get_by_role("button", name="Save as template").click()
    expect(dialog.get_by_test_id("export-notice")).to_have_text("Template “My list” saved.")
    expect(dialog.get_by_label("Saved template").locator("option:checked")).to_have_text("My list")
    assert column_keys(dialog)[:4] == ["file_number", "email", "debtor", "current_balance"]
    saved = ExportTemplate.objects.get(owner=supervisor)
    assert [c["key"] for c in saved.columns] == [
        "file_number",
        "email",
        "debtor",
        "current_balance",
    ]
    dialog.get_by_role("button", name="Export", exact=True).click()

    # The operation's page: it runs to the end on the worker.
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    operation = BulkOperation.objects.get()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"#{operation.pk} · Export 4 columns to CSV (template “My list”)"
    )
    notice = page.get_by_test_id("finished-notice")
    expect(notice).to_have_text(
        "Export finished: succeeded. 3 exported, 0 skipped, 0 failed.", timeout=FINISH_TIMEOUT_MS
    )
    link = page.get_by_test_id("export-download").get_by_role("link", name="Download CSV")
    expect(link).to_be_visible()

    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == f"accounts-export-{operation.pk}.csv"
    content = Path(download.path()).read_bytes()
    assert (
        content
        == (
            "\ufeffFile Number,Email,Debtor,Current Balance\r\n"
            "E0000001,z***@example.com,Zoë Müller,1234.50\r\n"
            "E0000002,,'=SUM(A1) Smith,0.10\r\n"
            "E0000003,a***@example.org,Ann O'Neil,99.99\r\n"
        ).encode()
    )
    assert AuditEvent.objects.filter(
        action="export.downloaded", bulk_operation=operation, actor=supervisor
    ).exists()
    # The Export templates page lists the saved template, accessibly.
    page.goto(live_server.url + "/bulk/exports/templates/")
    expect(page.get_by_role("cell", name="My list", exact=True)).to_be_visible()
    assert_accessible(page, "the Export templates page")
    # The one refusal above was expected (the response and the browser's console line).
    refused = [
        p
        for p in watcher.problems
        if re.match(r"HTTP 422 POST .*/bulk/actions/export/confirm/$", p)
        or p.endswith("the server responded with a status of 422 (Unprocessable Entity)")
    ]
    assert len(refused) == 2, watcher.problems
    watcher.problems = [p for p in watcher.problems if p not in refused]
    watcher.assert_clean()


def test_the_progress_bar_says_the_file_is_being_assembled(live_server, page: Page, roles):
    """Every account is processed but the file is not assembled yet: the page
    says so (rather than "0 s left") and keeps polling until it is done."""
    supervisor = UserFactory(username="sue", company=CompanyFactory(), role=SUPERVISOR)
    operation = BulkOperationFactory(
        created_by=supervisor,
        kind="export",
        parameters={"format": "csv", "columns": [{"key": "file_number", "label": "File Number"}]},
        status=BulkOperation.Status.RUNNING,
        total=3,
        processed=3,
        succeeded=3,
        started_at=timezone.now(),
    )
    log_in(page, live_server.url, supervisor)
    page.goto(live_server.url + reverse("bulkops:operation-detail", args=[operation.pk]))
    finishing = page.get_by_test_id("finishing")
    expect(finishing).to_have_text("every account is processed; assembling the file…")
    expect(page.get_by_text(re.compile(r"s left"))).to_have_count(0)

    # The worker finishes: the next poll shows the notice instead.
    BulkOperation.objects.filter(pk=operation.pk).update(
        status=BulkOperation.Status.SUCCEEDED, finished_at=timezone.now()
    )
    expect(page.get_by_test_id("finished-notice")).to_be_visible(timeout=10_000)
    expect(finishing).to_have_count(0)
