"""A collector's work on one account (seed 004): notes, interactions, tasks,
the phone number's validity, through the services and their pages; each
refusal changes nothing."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts import work
from accounts.models import (
    DebtorPhone,
    DelinquencyReason,
    Interaction,
    InteractionOutcome,
    Note,
    NoteType,
    Task,
    WorkGroup,
    WorkQueue,
)
from accounts.roles import COLLECTOR
from bulkops.models import AuditEvent
from tests.factories import AccountFactory, DebtorPhoneFactory, UserFactory

pytestmark = pytest.mark.django_db

TOMORROW = timezone.localdate() + dt.timedelta(days=1)


@pytest.fixture
def account(company):
    return AccountFactory(company=company)


@pytest.fixture
def queue(company, collector):
    queue = WorkQueue.objects.create(company=company, name="Early stage")
    queue.members.add(collector)
    return queue


@pytest.fixture
def group(company):
    return WorkGroup.objects.create(company=company, name="Legal team")


def outcome(name="No answer"):
    return InteractionOutcome.objects.get(company=None, name=name)


def reason(name="Reduced income"):
    return DelinquencyReason.objects.get(company=None, name=name)


# --- notes -----------------------------------------------------------------------------


def test_a_note_is_added_with_its_type_and_audited(collector, account):
    kind = NoteType.objects.create(company=None, name="Call summary")
    note = work.add_note(actor=collector, account=account, note_type=kind, body="  Spoke to him ")
    assert (note.body, note.note_type, note.author) == ("Spoke to him", kind, collector)
    event = AuditEvent.objects.get(action="note.added", object_id=note.pk)
    assert event.company_id == account.company_id


def test_an_empty_note_or_another_company_s_note_type_is_refused(collector, account, other_company):
    with pytest.raises(ValidationError):
        work.add_note(actor=collector, account=account, note_type=None, body="   ")
    theirs = NoteType.objects.create(company=other_company, name="Theirs")
    with pytest.raises(ValidationError):
        work.add_note(actor=collector, account=account, note_type=theirs, body="x")
    assert not Note.objects.exists()


def test_another_company_s_account_is_not_worked(collector, other_company):
    theirs = AccountFactory(company=other_company)
    with pytest.raises(PermissionDenied):
        work.add_note(actor=collector, account=theirs, note_type=None, body="x")
    assert not Note.objects.exists()


# --- interactions ------------------------------------------------------------------------


def test_an_interaction_sets_last_worked(collector, account):
    assert account.last_worked_at is None
    interaction = work.add_interaction(
        actor=collector,
        account=account,
        method=Interaction.Method.PHONE,
        outcome=outcome(),
        direction=Interaction.Direction.OUTBOUND,
        delinquency_reason=reason(),
        additional_information="Voicemail full",
    )
    account.refresh_from_db()
    assert account.last_worked_at == interaction.created_at
    assert AuditEvent.objects.filter(action="account.worked", object_id=account.pk).exists()


def test_an_interaction_with_an_unknown_method_changes_nothing(collector, account):
    with pytest.raises(ValidationError):
        work.add_interaction(
            actor=collector,
            account=account,
            method="pigeon",
            outcome=outcome(),
            direction="outbound",
            delinquency_reason=reason(),
        )
    account.refresh_from_db()
    assert account.last_worked_at is None and not Interaction.objects.exists()


# --- tasks -----------------------------------------------------------------------------


def test_a_task_for_a_queue_and_one_of_its_users(collector, account, queue):
    task = work.create_task(
        actor=collector,
        account=account,
        queue=queue,
        assignee=collector,
        due_date=TOMORROW,
        tags=work.parse_tags("call back, Call back,  urgent "),
        notes="Call after 5",
    )
    assert task.tags == ["call back", "urgent"] and task.status == Task.Status.OPEN
    assert work.my_tasks(collector)["by_queue"] == [("Early stage", [task])]


def test_a_task_for_a_group_names_no_user(collector, account, group, queue):
    with pytest.raises(ValidationError):
        work.create_task(
            actor=collector, account=account, group=group, assignee=collector, due_date=TOMORROW
        )
    with pytest.raises(ValidationError):  # both
        work.create_task(
            actor=collector, account=account, queue=queue, group=group, due_date=TOMORROW
        )
    assert not Task.objects.exists()


def test_a_task_refuses_a_past_date_a_non_member_and_another_company_s_queue(
    collector, account, queue, company, other_company
):
    outsider = UserFactory(company=company, role=COLLECTOR)
    theirs = WorkQueue.objects.create(company=other_company, name="Theirs")
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    for kwargs in (
        {"queue": queue, "due_date": yesterday},
        {"queue": queue, "assignee": outsider, "due_date": TOMORROW},
        {"queue": theirs, "due_date": TOMORROW},
    ):
        with pytest.raises(ValidationError):
            work.create_task(actor=collector, account=account, **kwargs)
    assert not Task.objects.exists()


def test_a_task_is_resolved_once_and_a_stale_edit_is_refused(collector, account, queue):
    task = work.create_task(actor=collector, account=account, queue=queue, due_date=TOMORROW)
    loaded_at = task.updated_at
    work.edit_task(
        actor=collector,
        task=task,
        loaded_at=loaded_at,
        queue=queue,
        due_date=TOMORROW + dt.timedelta(days=1),
        notes="Moved",
    )
    with pytest.raises(ValidationError, match="changed by someone else"):
        work.edit_task(
            actor=collector, task=task, loaded_at=loaded_at, queue=queue, due_date=TOMORROW
        )
    task.refresh_from_db()
    assert task.notes == "Moved" and task.due_date == TOMORROW + dt.timedelta(days=1)
    work.resolve_task(actor=collector, task=task, note="Done", loaded_at=task.updated_at)
    with pytest.raises(ValidationError, match="resolved already"):
        work.resolve_task(actor=collector, task=task)
    task.refresh_from_db()
    assert (task.status, task.resolution_note, task.resolved_by) == ("resolved", "Done", collector)


def test_another_company_s_task_cannot_be_resolved(account, queue, collector, other_company):
    task = work.create_task(actor=collector, account=account, queue=queue, due_date=TOMORROW)
    stranger = UserFactory(company=other_company, role=COLLECTOR)
    with pytest.raises(PermissionDenied):
        work.resolve_task(actor=stranger, task=task)
    task.refresh_from_db()
    assert task.status == "open"


# --- phone numbers ---------------------------------------------------------------------


def test_invalidating_a_number_needs_notes_and_records_who_and_when(collector, account):
    phone = DebtorPhoneFactory(debtor=account.debtor)
    with pytest.raises(ValidationError):
        work.set_phone_validity(actor=collector, account=account, phone_id=phone.pk, valid=False)
    work.set_phone_validity(
        actor=collector, account=account, phone_id=phone.pk, valid=False, notes="Disconnected"
    )
    phone.refresh_from_db()
    assert (phone.validity, phone.validity_note, phone.validity_changed_by) == (
        DebtorPhone.Validity.INVALID,
        "Disconnected",
        collector,
    )
    work.set_phone_validity(actor=collector, account=account, phone_id=phone.pk, valid=True)
    phone.refresh_from_db()
    assert phone.validity == DebtorPhone.Validity.VALID


def test_a_number_not_belonging_to_the_account_is_refused(collector, account):
    elsewhere = DebtorPhoneFactory()
    with pytest.raises(ValidationError):
        work.set_phone_validity(
            actor=collector, account=account, phone_id=elsewhere.pk, valid=False, notes="x"
        )
    elsewhere.refresh_from_db()
    assert elsewhere.validity == DebtorPhone.Validity.UNKNOWN


# --- the pages -------------------------------------------------------------------------


def test_the_pages_add_a_note_an_interaction_and_a_task(client, collector, account, queue):
    client.force_login(collector)
    response = client.post(
        reverse("accounts:note-add", args=[account.pk]), {"body": "Asked for a statement"}
    )
    assert response.status_code == 302 and response.url.endswith("?tab=diary")
    response = client.post(
        reverse("accounts:interaction-add", args=[account.pk]),
        {
            "method": "phone",
            "outcome": outcome().pk,
            "direction": "inbound",
            "delinquency_reason": reason().pk,
        },
    )
    assert response.status_code == 302
    response = client.post(
        reverse("accounts:task-create", args=[account.pk]),
        {"assign_to": "queue", "queue": queue.pk, "due_date": TOMORROW.isoformat()},
    )
    assert response.status_code == 302
    assert Note.objects.count() == Interaction.objects.count() == Task.objects.count() == 1
    tasks_page = client.get(reverse("accounts:tasks", args=[account.pk])).content.decode()
    assert "Early stage" in tasks_page and "Resolve" in tasks_page


def test_a_tampered_queue_id_is_a_form_error(client, collector, account, other_company):
    theirs = WorkQueue.objects.create(company=other_company, name="Theirs")
    client.force_login(collector)
    response = client.post(
        reverse("accounts:task-create", args=[account.pk]),
        {"assign_to": "queue", "queue": theirs.pk, "due_date": TOMORROW.isoformat()},
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Task.objects.exists()


def test_a_resolve_without_the_form_s_timestamp_is_refused(client, collector, account, queue):
    task = work.create_task(actor=collector, account=account, queue=queue, due_date=TOMORROW)
    client.force_login(collector)
    response = client.post(reverse("accounts:task-resolve", args=[task.pk]), {"note": "x"})
    assert response.status_code == 200 and "out of date" in response.content.decode()
    task.refresh_from_db()
    assert task.status == "open"


def test_the_account_pages_of_another_company_are_not_found(client, collector, other_company):
    theirs = AccountFactory(company=other_company)
    client.force_login(collector)
    for name in ("accounts:note-add", "accounts:task-create", "accounts:phone-invalidate"):
        assert client.get(reverse(name, args=[theirs.pk])).status_code == 404


def test_a_user_without_the_right_to_work_accounts_is_refused(client, company, account):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(company=company)
    viewer.user_permissions.add(Permission.objects.get(codename="view_account"))
    client.force_login(viewer)
    response = client.post(reverse("accounts:note-add", args=[account.pk]), {"body": "x"})
    assert response.status_code == 403 and not Note.objects.exists()
    html = client.get(reverse("accounts:detail", args=[account.pk])).content.decode()
    assert "Add Notes" not in html


def test_the_actions_dropdown_offers_this_issue_s_actions(client, collector, account):
    client.force_login(collector)
    html = client.get(reverse("accounts:detail", args=[account.pk])).content.decode()
    for label in (
        "Invalidate phone number",
        "Validate phone number",
        "Create task",
        "Create promise to pay",
    ):
        assert label in html
