"""The engine's waits and steps in Chromium, with the tests' own small
actions (tests/bulkops/test_lifecycle.py): a supervisor's operation over the
limit waits; another supervisor approves it on its page; an action with a
verification step shows it between the dialog and the confirmation; a
finished operation is undone from its page. Each page passes axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account
from accounts.roles import SUPERVISOR
from bulkops import registry
from bulkops.models import BulkOperation
from bulkops.services import engine
from tests.bulkops.conftest import make_accounts
from tests.bulkops.test_lifecycle import ApprovedStage, PreviewedStage, ReversibleStage, StageBack
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import log_in
from tests.e2e.toolbar import click_action
from tests.factories import AccountStatusFactory, CompanyFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


@pytest.fixture
def people(roles, monkeypatch):
    toys = {a.key: a for a in (ApprovedStage, PreviewedStage, ReversibleStage, StageBack)}
    monkeypatch.setattr(registry, "_REGISTRY", {**registry._REGISTRY, **toys})
    # No worker here: an operation that would start stays queued.
    monkeypatch.setattr(engine, "enqueue_operation", lambda pk: True)
    company = CompanyFactory(name="Acme Recovery")
    make_accounts(5, company=company, status=AccountStatusFactory(name="Active"), prefix="L")
    return {
        "asker": UserFactory(username="asker", company=company, role=SUPERVISOR),
        "approver": UserFactory(username="approver", company=company, role=SUPERVISOR),
    }


def select_all_and_open(page: Page, label: str):
    page.locator("#select-all").check()
    expect(page.get_by_test_id("selection-counter")).to_contain_text("5 selected")
    click_action(page, label)
    dialog = page.get_by_role("dialog", name=re.compile(label))
    expect(dialog).to_be_visible()
    return dialog


def test_an_operation_waits_for_approval_and_another_supervisor_approves_it(
    page: Page, live_server, people
):
    log_in(page, live_server.url, people["asker"])
    dialog = select_all_and_open(page, "Approved stage")
    dialog.get_by_label("Collections Stage").select_option(label="Sent")
    dialog.get_by_role("button", name="Update").click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    expect(page.get_by_test_id("waiting-for-approval")).to_contain_text("More than 2 accounts (5)")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    assert_accessible(page, "an operation waiting for approval")
    operation = BulkOperation.objects.get(kind="approved_stage")

    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server.url, people["approver"])
    page.goto(f"{live_server.url}/bulk/{operation.pk}/")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("alert")).to_contain_text("Approved: it starts now.")
    expect(page.get_by_test_id("decision")).to_contain_text("Approved by")
    assert_accessible(page, "an approved operation")
    operation.refresh_from_db()
    assert operation.status == BulkOperation.Status.QUEUED


def test_a_verification_step_comes_between_the_dialog_and_the_confirmation(
    page: Page, live_server, people
):
    log_in(page, live_server.url, people["asker"])
    dialog = select_all_and_open(page, "Previewed stage")
    dialog.get_by_label("Collections Stage").select_option(label="Pending")
    dialog.get_by_role("button", name="Verification").click()
    preview = page.get_by_role("dialog", name="Previewed stage: Verification")
    expect(preview).to_be_visible()
    expect(preview.get_by_test_id("dialog-count")).to_contain_text("5 accounts")
    assert_accessible(page, "a verification step")
    preview.get_by_role("button", name="Update").click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    assert BulkOperation.objects.get(kind="previewed_stage").parameters["stage"] == "pending"


def test_a_finished_operation_is_undone_from_its_page(page: Page, live_server, people):
    from bulkops.services import run_operation

    Account.objects.update(stage="pending")
    log_in(page, live_server.url, people["asker"])
    dialog = select_all_and_open(page, "Reversible stage")
    dialog.get_by_label("Collections Stage").select_option(label="Sent")
    dialog.get_by_role("button", name="Update").click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    operation = BulkOperation.objects.get(kind="reversible_stage")
    run_operation(operation.pk)  # what a worker does
    page.reload()
    page.once("dialog", lambda confirm: confirm.accept())
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Undoing #{operation.pk}.")
    expect(page.get_by_text(f"Undoes #{operation.pk}.")).to_be_visible()
    assert_accessible(page, "an undo operation")
    undo = BulkOperation.objects.get(kind="stage_back")
    run_operation(undo.pk)
    assert set(Account.objects.values_list("stage", flat=True)) == {"pending"}
