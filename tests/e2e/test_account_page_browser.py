"""The account page as a collector's workplace, in Chromium: a collector
opens an account, adds a note and an interaction, creates a task and a
promise to pay, sees them in the Diary, filters it by event and by user,
rearranges two widgets, adds a custom widget and finds the layout again
after a reload. A second test has a collector save the account's details
in place, invalidate and validate the debtor's phone number, edit and
resolve a task on the account's Tasks page and find their tasks on My tasks.
Every page and dialog passes axe-core."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import (
    CustomField,
    CustomFieldValue,
    Debtor,
    DebtorPhone,
    DelinquencyReason,
    InteractionOutcome,
    Note,
    Task,
    User,
    WorkQueue,
)
from accounts.roles import COLLECTOR
from billing import services as billing
from bulkops.models import AuditEvent
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import log_in
from tests.factories import (
    AccountFactory,
    ClaimFactory,
    CompanyFactory,
    DebtorPhoneFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


@pytest.fixture
def workplace(roles):
    company = CompanyFactory(name="Acme Recovery")
    collector = UserFactory(
        username="cole", first_name="Cole", last_name="Lector", company=company, role=COLLECTOR
    )
    other = UserFactory(
        username="otto", first_name="Otto", last_name="Other", company=company, role=COLLECTOR
    )
    queue = WorkQueue.objects.create(company=company, name="Early stage")
    queue.members.add(collector)
    # The platform's defaults (a migration's rows, flushed between such tests).
    InteractionOutcome.objects.get_or_create(company=None, name="Left message")
    DelinquencyReason.objects.get_or_create(company=None, name="Reduced income")
    CustomField.objects.create(company=company, name="Employer", key="employer")
    account = AccountFactory(company=company, debtor__first_name="Pat", debtor__last_name="Doe")
    claim = ClaimFactory(account=account, reference="INV-501")
    billing.post_ledger_entry(account=account, kind="charge", amount=Decimal("240"), claim=claim)
    # Someone else's note, for the Users filter.
    Note.objects.create(account=account, body="Letter sent", author=other)
    return collector, account


@pytest.fixture
def work_to_do(workplace):
    """The workplace's account with a phone number, an Employer value and
    tasks: one to edit and resolve (due tomorrow), one due today for Cole,
    one overdue for the queue, and one due today for Otto (not Cole's)."""
    collector, account = workplace
    queue = WorkQueue.objects.get(name="Early stage")
    other = User.objects.get(username="otto")
    queue.members.add(other)
    phone = DebtorPhoneFactory(debtor=account.debtor, number="+15185550123")
    CustomFieldValue.objects.create(
        account=account, field=CustomField.objects.get(key="employer"), value="Initech"
    )
    today = timezone.localdate()
    tasks = {}
    for key, due, assignee, notes in (
        ("later", today + dt.timedelta(days=1), None, "Call after payday"),
        ("today", today, collector, "Send the statement"),
        # Created as if yesterday (the services refuse a due date in the past).
        ("overdue", today - dt.timedelta(days=1), None, "Check the new address"),
        ("otto", today, other, "Otto's own call"),
    ):
        tasks[key] = Task.objects.create(
            account=account,
            queue=queue,
            assignee=assignee,
            due_date=due,
            notes=notes,
            created_by=collector,
        )
    return collector, account, phone, tasks


def choose_action(page, label):
    page.get_by_role("button", name="Actions").click()
    page.get_by_test_id("account-actions").get_by_role("link", name=label, exact=True).click()


def widget_titles(page):
    return page.get_by_test_id("widget").evaluate_all("els => els.map(e => e.dataset.title)")


def test_a_collector_works_an_account_and_keeps_a_layout(live_server, page, workplace):
    collector, account = workplace
    url = f"{live_server.url}/accounts/{account.pk}/"
    log_in(page, live_server.url, collector)
    page.goto(url)
    expect(page.get_by_role("heading", name="Pat Doe")).to_be_visible()
    assert_accessible(page, "the account page")

    # Add Notes.
    page.get_by_role("link", name="Add Notes").click()
    page.get_by_label("Note", exact=True).fill("Debtor asked for a statement")
    assert_accessible(page, "Add notes")
    page.get_by_role("button", name="Add Note").click()
    expect(page.get_by_text("Note added")).to_be_visible()

    # Add Interaction.
    page.goto(url)
    page.get_by_role("link", name="Add Interaction").click()
    page.get_by_label("Communication method").select_option(label="Phone call")
    page.get_by_label("Outcome").select_option(label="Left message")
    page.get_by_label("Outbound (we contacted them)").check()
    page.get_by_label("Reason for delinquency").select_option(label="Reduced income")
    assert_accessible(page, "Add Interaction")
    page.get_by_role("button", name="Submit resolution").click()
    expect(page.get_by_text("Interaction recorded")).to_be_visible()

    # Create task, for the queue.
    page.goto(url)
    choose_action(page, "Create task")
    page.get_by_role("radio", name="Queue").check()
    page.get_by_role("combobox", name="Queue").select_option(label="Early stage")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    page.get_by_label("Due date").fill(tomorrow.isoformat())
    page.get_by_label("Tags (optional)").fill("statement")
    assert_accessible(page, "Create task")
    page.get_by_role("button", name="Create Task").click()
    expect(page.get_by_test_id("account-tasks")).to_contain_text("Early stage")

    # Create promise to pay.
    page.goto(url)
    choose_action(page, "Create promise to pay")
    page.get_by_label("Claim reference").select_option(index=1)
    page.get_by_label("Amount").fill("80.00")
    page.get_by_label("Due date").fill((tomorrow + dt.timedelta(days=6)).isoformat())
    assert_accessible(page, "Create promise to pay")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("account-promises")).to_contain_text("80.00")

    # The Diary has them all; filter by event, then by user.
    page.get_by_role("link", name="Diary").click()
    diary = page.get_by_test_id("diary")
    for text in (
        "Debtor asked for a statement",
        "Left message",
        "Task for Early stage",
        "Promise to pay 80.00",
        "Letter sent",
    ):
        expect(diary).to_contain_text(text)
    assert_accessible(page, "the Diary")
    page.get_by_role("button", name="Event").click()
    page.get_by_label("Note", exact=True).check()
    page.get_by_role("group", name="Event").get_by_role("button", name="Apply").click()
    expect(diary.locator(".diary-event")).to_have_count(2)
    page.get_by_role("button", name=re.compile(r"^Users")).click()
    page.get_by_label("Cole Lector").check()
    page.get_by_role("group", name="Users").get_by_role("button", name="Apply").click()
    expect(diary.locator(".diary-event")).to_have_count(1)
    expect(diary).to_contain_text("Debtor asked for a statement")
    expect(diary).not_to_contain_text("Letter sent")

    # Edit Layout: swap the first two widgets, add a custom widget, Save.
    page.get_by_role("link", name="Account Details").click()
    before = widget_titles(page)
    page.get_by_role("button", name="Edit Layout").click()
    first, second = page.get_by_test_id("widget").nth(0), page.get_by_test_id("widget").nth(1)
    first.locator(".widget-handle").drag_to(second.locator(".card-body"))
    after_drag = widget_titles(page)
    assert after_drag[:2] == [before[1], before[0]], after_drag
    page.get_by_role("button", name="Add widget").click()
    dialog = page.get_by_role("dialog", name="Add widget")
    dialog.get_by_role("tab", name="Custom").click()
    dialog.get_by_label("Label").fill("Employment")
    dialog.get_by_label("Employer").check()
    assert_accessible(page, "the Add widget dialog")
    dialog.get_by_role("tabpanel").get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Widget added.")).to_be_visible()

    page.reload()
    titles = widget_titles(page)
    assert titles[:2] == [before[1], before[0]] and titles[-1] == "Employment"
    expect(page.get_by_test_id("widget-custom")).to_contain_text("Employer")


def test_a_collector_saves_details_checks_a_number_and_works_tasks(live_server, page, work_to_do):
    collector, account, phone, tasks = work_to_do
    url = f"{live_server.url}/accounts/{account.pk}/"
    today = timezone.localdate()
    log_in(page, live_server.url, collector)
    page.goto(url)
    expect(page.get_by_role("heading", name="Pat Doe")).to_be_visible()

    # Save: a collector edits the address in place; the custom fields (and the
    # numbers, masked to them) are theirs to read only.
    city = page.get_by_label("City", exact=True)
    expect(city).to_have_value("Albany")
    custom = page.get_by_test_id("widget-custom-fields")
    expect(custom).to_contain_text("Initech")
    expect(custom.get_by_role("textbox")).to_have_count(0)
    contacts = page.get_by_test_id("contact-points")
    number = contacts.get_by_role("row").filter(has_text="***-***-0123")
    expect(number).to_contain_text("Unknown")
    expect(contacts.get_by_role("textbox")).to_have_count(0)
    city.fill("Troy")
    page.get_by_test_id("account-buttons").get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="Saved: 1 change.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("City", exact=True)).to_have_value("Troy")
    assert Debtor.objects.get(pk=account.debtor_id).city == "Troy"
    edit = AuditEvent.objects.get(action="account.details_edited", object_id=account.pk)
    assert edit.actor_id == collector.pk and edit.changes == {"city": ["Albany", "Troy"]}

    # Invalidate phone number: notes are required.
    choose_action(page, "Invalidate phone number")
    expect(page.get_by_role("heading", name="Invalidate phone number")).to_be_visible()
    page.get_by_role("combobox", name="Phone number").select_option(
        label="***-***-0123 (Mobile, unknown)"
    )
    notes = page.get_by_role("textbox", name="Notes", exact=True)
    expect(notes).to_have_js_property("required", True)
    notes.fill("A bakery answers")
    assert_accessible(page, "Invalidate phone number")
    page.get_by_role("button", name="Invalidate", exact=True).click()
    expect(
        page.get_by_role("alert").filter(has_text="Number invalidated: Invalid.")
    ).to_be_visible()
    when = r"on \d{4}-\d{2}-\d{2} \d{2}:\d{2}"
    expect(number).to_contain_text(re.compile(rf"Invalid by Cole Lector {when}"))
    expect(number).to_contain_text("A bakery answers")
    phone.refresh_from_db()
    assert (phone.validity, phone.validity_note) == (
        DebtorPhone.Validity.INVALID,
        "A bakery answers",
    )
    assert phone.validity_changed_by == collector
    invalidated_at = phone.validity_changed_at
    assert timezone.now() - invalidated_at < dt.timedelta(minutes=2)

    # Validate phone number: the number now reads as invalid; notes optional.
    choose_action(page, "Validate phone number")
    expect(page.get_by_role("heading", name="Validate phone number")).to_be_visible()
    page.get_by_role("combobox", name="Phone number").select_option(
        label="***-***-0123 (Mobile, invalid)"
    )
    page.get_by_label("Notes (optional)").fill("Debtor confirmed it")
    assert_accessible(page, "Validate phone number")
    page.get_by_role("button", name="Validate", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="Number validated: Valid.")).to_be_visible()
    expect(number).to_contain_text(re.compile(rf"\bValid by Cole Lector {when}"))
    expect(number).to_contain_text("Debtor confirmed it")
    expect(number).not_to_contain_text("A bakery answers")
    phone.refresh_from_db()
    assert (phone.validity, phone.validity_note) == (
        DebtorPhone.Validity.VALID,
        "Debtor confirmed it",
    )
    assert phone.validity_changed_by == collector and phone.validity_changed_at >= invalidated_at
    assert_accessible(page, "the account page, after Save and the number's validity")

    # My tasks (in the navigation): Cole's and the queue's, not Otto's.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My tasks").click()
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()
    overdue = page.get_by_test_id("tasks-overdue")
    due_today = page.get_by_test_id("tasks-today")
    later = page.get_by_test_id("tasks-queue")
    expect(overdue.get_by_role("heading", name="Overdue")).to_be_visible()
    expect(overdue.get_by_role("row")).to_have_count(2)  # the header and one task
    expect(overdue).to_contain_text("Check the new address")
    expect(overdue).to_contain_text((today - dt.timedelta(days=1)).isoformat())
    expect(due_today.get_by_role("heading", name="Due today")).to_be_visible()
    expect(due_today.get_by_role("row")).to_have_count(2)
    expect(due_today).to_contain_text("Send the statement")
    expect(due_today).to_contain_text("Early stage / Cole Lector")
    expect(later).to_have_count(1)
    expect(later.get_by_role("heading", name="Early stage")).to_be_visible()
    expect(later).to_contain_text("Call after payday")
    expect(page.get_by_role("main")).not_to_contain_text("Otto's own call")
    expect(due_today.get_by_role("link", name=f"Pat Doe · {account.file_number}")).to_be_visible()
    assert_accessible(page, "My tasks")

    # Tasks (the account's button): Edit the task due tomorrow, then Resolve it.
    page.goto(url)
    page.get_by_test_id("account-buttons").get_by_role("link", name="Tasks", exact=True).click()
    expect(page.get_by_role("heading", name="Tasks", exact=True)).to_be_visible()
    table = page.get_by_test_id("account-tasks")
    expect(table.get_by_role("row")).to_have_count(5)  # the header and four tasks
    row = table.get_by_role("row").filter(has_text="Call after payday")
    expect(row).to_contain_text("Open")
    assert_accessible(page, "the account's Tasks")
    row.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit task")).to_be_visible()
    expect(page.get_by_role("combobox", name="Queue")).to_have_value(str(tasks["later"].queue_id))
    new_due = today + dt.timedelta(days=3)
    page.get_by_label("Due date").fill(new_due.isoformat())
    page.get_by_label("Notes (optional)").fill("Call after payday, mornings only")
    assert_accessible(page, "Edit task")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="Task saved.")).to_be_visible()
    row = table.get_by_role("row").filter(has_text="mornings only")
    expect(row).to_contain_text(new_due.isoformat())
    expect(row).to_contain_text("Open")
    row.get_by_role("link", name="Resolve").click()
    expect(page.get_by_role("heading", name="Resolve task")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("mornings only")
    page.get_by_label("Note (optional)").fill("Paid in full by phone")
    assert_accessible(page, "Resolve task")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("alert").filter(has_text="Task resolved.")).to_be_visible()
    row = table.get_by_role("row").filter(has_text="mornings only")
    expect(row).to_contain_text(
        re.compile(rf"Resolved by Cole Lector {when}: Paid in full by phone")
    )
    expect(row.get_by_role("link")).to_have_count(0)  # no Resolve, no Edit
    task = Task.objects.get(pk=tasks["later"].pk)
    assert (task.status, task.due_date, task.notes) == (
        Task.Status.RESOLVED,
        new_due,
        "Call after payday, mornings only",
    )
    assert task.resolved_by == collector and task.resolution_note == "Paid in full by phone"
    assert_accessible(page, "the account's Tasks, after Resolve")

    # My tasks again: the resolved task is gone, nothing is due later.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My tasks").click()
    expect(page.get_by_test_id("tasks-queue")).to_have_count(0)
    expect(page.get_by_text("Nothing due later.")).to_be_visible()
    expect(page.get_by_test_id("tasks-today")).to_contain_text("Send the statement")
    assert_accessible(page, "My tasks, after Resolve")
