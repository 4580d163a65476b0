"""Mass Edit in Chromium (seed 003), with a real Celery worker: a supervisor
opens a saved list, takes With List, ticks three sections of the Mass Edit
page (Status / Other's stage, Mass Add Alert, a custom field), checks the
count and the changes, Perform Mass Edit then OK; the page says "Mass Edit
Successful" above the navigation. Then Undo, and the accounts are back as
they were (the alert taken down)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Account, Alert, CustomField, CustomFieldValue
from accounts.roles import SUPERVISOR
from tests.bulkops.conftest import make_accounts
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_bulk_browser import FINISH_TIMEOUT_MS, open_dialog
from tests.e2e.test_grid_browser import counter, log_in
from tests.factories import AccountStatusFactory, CompanyFactory, SavedListFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

LISTED, OTHERS = 12, 5


def wait_for_the_end(page):
    progress = page.get_by_test_id("progress")
    expect(progress).to_have_attribute("data-status", "succeeded", timeout=FINISH_TIMEOUT_MS)


def test_mass_edit_of_three_sections_on_a_saved_list_then_undo(
    live_server, page, celery_worker, roles
):
    company = CompanyFactory(name="Acme Recovery")
    supervisor = UserFactory(
        username="sue", first_name="Sue", last_name="Pervisor", company=company, role=SUPERVISOR
    )
    legal = AccountStatusFactory(name="Legal review", sort_order=1)
    active = AccountStatusFactory(name="Active", sort_order=2)
    make_accounts(LISTED, company=company, status=legal, prefix="L")
    make_accounts(OTHERS, company=company, status=active, prefix="O")
    listed = list(Account.objects.filter(status=legal).order_by("pk"))
    court = CustomField.objects.create(
        company=company, name="Court", key="court", field_type=CustomField.FieldType.TEXT
    )
    SavedListFactory(owner=supervisor, name="Legal review", filter_query=f"status={legal.pk}")

    log_in(page, live_server.url, supervisor)
    page.get_by_role("button", name="Lists").click()
    page.get_by_role("list", name="Saved lists").get_by_role("link", name="Legal review").click()
    bar = page.get_by_test_id("saved-list-bar")
    expect(bar).to_contain_text("List: Legal review")
    bar.get_by_role("button", name="With List").click()
    expect(counter(page)).to_have_text(f"{LISTED} selected of {LISTED}")

    dialog = open_dialog(page, "Mass Edit")
    expect(dialog.get_by_test_id("dialog-count")).to_have_text(
        f"This will apply to {LISTED} accounts."
    )
    for heading in (
        "Standard Fields", "Company Type Assignments", "Role Assignments", "Status / Other",
        "Mass Add Note", "Mass Add Alert", "Custom Fields",
    ):  # fmt: skip
        expect(dialog.get_by_role("heading", name=heading)).to_be_visible()
    assert_accessible(page, "the Mass Edit page")

    # Nothing ticked: a clear message, nothing done.
    dialog.get_by_role("button", name="Perform Mass Edit").click()
    expect(page.get_by_test_id("bulk-dialog")).to_contain_text("Tick at least one field to change.")
    dialog = page.get_by_test_id("bulk-dialog")

    dialog.get_by_label("Stage", exact=True).check()
    dialog.get_by_label("New stage").select_option(label="Sent")
    dialog.get_by_label("Add an alert").check()
    dialog.get_by_label("Alert", exact=True).fill("Attorney calls only")
    dialog.get_by_label("Court", exact=True).check()
    dialog.get_by_label("Court value").fill("Kings County")
    dialog.get_by_role("button", name="Perform Mass Edit").click()

    preview = page.get_by_test_id("bulk-preview")
    expect(preview.get_by_test_id("dialog-count")).to_have_text(
        f"This will apply to {LISTED} accounts."
    )
    changes = preview.get_by_test_id("mass-edit-changes")
    expect(changes).to_contain_text("Stage: Sent")
    expect(changes).to_contain_text("Mass Add Alert: Attorney calls only")
    expect(changes).to_contain_text("Court: Kings County")
    assert_accessible(page, "the Mass Edit check")
    preview.get_by_role("button", name="OK").click()

    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    wait_for_the_end(page)
    success = page.get_by_test_id("success-message")
    expect(success).to_contain_text("Mass Edit Successful")
    # Above the navigation.
    assert page.evaluate(
        "() => { const s = document.querySelector('[data-testid=success-message]');"
        " const nav = document.querySelector('nav[aria-label=Main]');"
        " return !!(s.compareDocumentPosition(nav) & Node.DOCUMENT_POSITION_FOLLOWING); }"
    )
    assert set(Account.objects.filter(status=legal).values_list("stage", flat=True)) == {"sent"}
    assert set(Account.objects.filter(status=active).values_list("stage", flat=True)) == {"not_set"}
    assert Alert.objects.filter(message="Attorney calls only", is_active=True).count() == LISTED
    assert CustomFieldValue.objects.filter(field=court, value="Kings County").count() == LISTED
    assert_accessible(page, "Mass Edit Successful")

    # Undo, with its confirmation (the count shown).
    page.once("dialog", lambda d: d.message.startswith("Undo the changes of") and d.accept())
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_text(re.compile(r"^Undoes #\d+\.$"))).to_be_visible()
    wait_for_the_end(page)
    expect(page.get_by_test_id("finished-notice")).to_contain_text(f"{LISTED} changed")
    assert set(
        Account.objects.filter(pk__in=[a.pk for a in listed]).values_list("stage", flat=True)
    ) == {"not_set"}
    assert not Alert.objects.filter(message="Attorney calls only", is_active=True).exists()
    assert not CustomFieldValue.objects.filter(field=court).exists()
