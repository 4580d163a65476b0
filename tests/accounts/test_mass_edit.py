"""Mass Edit (seed 003): each section changes only what is ticked, in one
operation, with one audit event per changed field; several users share the
accounts evenly; bad input changes nothing; Undo puts everything back where
nothing changed it since, and undoing the undo redoes."""

import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.actions.mass_edit import even_split
from accounts.models import (
    Account,
    AccountAccess,
    AccountFlag,
    AccountRoleAssignment,
    Alert,
    CustomField,
    CustomFieldValue,
    FileType,
    Note,
    NoteType,
)
from accounts.roles import COLLECTOR, SUPERVISOR
from bulkops import services
from bulkops.models import AuditEvent, BulkOperationItem
from bulkops.registry import get_action
from bulkops.selection import Selection
from tests.accounts.test_undo import undo
from tests.factories import (
    AccountStatusFactory,
    CompanyFactory,
    FlagFactory,
    UserFactory,
    create_accounts,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(company):
    return create_accounts(7, company=company)


@pytest.fixture
def collectors(company):
    return [
        UserFactory(company=company, role=COLLECTOR, first_name=name, last_name="Collector")
        for name in ("Ann", "Ben", "Cal")
    ]


def ids(accounts):
    return [a.pk for a in accounts]


def form_of(user, data, count=7):
    return get_action("mass_edit").get_form(data, user=user, selected_count=count)


def start(user, accounts, data):
    action = get_action("mass_edit")
    form = action.get_form(data, user=user, selected_count=len(accounts))
    assert form.is_valid(), form.errors
    token = services.preview_token(
        action, count=len(accounts), parameters=action.all_parameters(form)
    )
    return services.start_operation(
        user=user,
        action_key="mass_edit",
        selection=Selection("accounts", ids=frozenset(ids(accounts))),
        confirmed_count=len(accounts),
        data={**data, "preview_token": token},
        idempotency_key=uuid.uuid4().hex,
    )


def run(user, accounts, data):
    operation = start(user, accounts, data)
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    return operation


def column(accounts, name):
    return list(
        Account.objects.filter(pk__in=ids(accounts)).order_by("pk").values_list(name, flat=True)
    )


def test_even_split_states_the_remainder():
    users = [{"id": 1}, {"id": 2}, {"id": 3}]
    assert [share for _, share in even_split(7, users)] == [3, 2, 2]
    assert [share for _, share in even_split(9, users)] == [3, 3, 3]
    assert sum(share for _, share in even_split(100_001, users)) == 100_001


def test_assigned_to_several_users_splits_evenly(supervisor, accounts, collectors):
    operation = run(
        supervisor,
        accounts,
        {"change_assigned_to": "on", "assigned_to": [str(c.pk) for c in collectors]},
    )
    assert operation.status == "succeeded"
    shares = sorted(column(accounts, "assigned_to").count(c.pk) for c in collectors)
    assert shares == [2, 2, 3]
    assert (
        AuditEvent.objects.filter(bulk_operation=operation, action="account.assigned").count() == 7
    )


def test_standard_fields_and_status_other(supervisor, accounts, company):
    file_type = FileType.objects.create(name="Student Loans", company=company)
    creator = UserFactory(company=company, role=COLLECTOR)
    promised = AccountStatusFactory(name="Promise", company=None)
    vip = FlagFactory(name="VIP", company=None)
    created = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(days=30)
    untouched_balance = column(accounts, "current_balance")
    operation = run(
        supervisor,
        accounts,
        {
            "change_file_type": "on", "file_type": str(file_type.pk),
            "change_created_by": "on", "created_by": str(creator.pk),
            "change_created_at": "on",
            "created_at": timezone.localtime(created).strftime("%Y-%m-%dT%H:%M"),
            "change_status": "on", "status": str(promised.pk),
            "change_stage": "on", "stage": "sent",
            "change_flags": "on", "add_flags": [str(vip.pk)],
        },
    )  # fmt: skip
    assert operation.status == "succeeded" and operation.succeeded == 7
    assert column(accounts, "file_type") == [file_type.pk] * 7
    assert column(accounts, "created_by") == [creator.pk] * 7
    assert column(accounts, "created_at") == [created] * 7
    assert column(accounts, "status") == [promised.pk] * 7
    assert column(accounts, "stage") == ["sent"] * 7
    assert AccountFlag.objects.filter(account_id__in=ids(accounts), flag=vip).count() == 7
    assert column(accounts, "current_balance") == untouched_balance
    # One audit event per changed field of each account.
    actions = set(
        AuditEvent.objects.filter(bulk_operation=operation, object_type="accounts.account")
        .values_list("action", flat=True)
        .distinct()
    )
    assert {
        "account.file_type_changed",
        "account.created_by_changed",
        "account.created_at_changed",
        "account.status_changed",
        "account.stage_updated",
        "account.flags_changed",
    } <= actions
    events = AuditEvent.objects.filter(bulk_operation=operation, action="account.stage_updated")
    assert events.count() == 7


def test_company_roles_note_alert_and_custom_fields(supervisor, accounts, company, collectors):
    partner = CompanyFactory(name="Partner Law")
    note_type = NoteType.objects.create(name="Reassignment", company=company)
    score = CustomField.objects.create(
        company=company, name="Score", key="score", field_type=CustomField.FieldType.NUMBER
    )
    CustomFieldValue.objects.create(account=accounts[0], field=score, value="1")
    expires = timezone.localdate() + dt.timedelta(days=5)
    operation = run(
        supervisor,
        accounts,
        {
            "change_access": "on", "access_company": str(partner.pk), "access_action": "grant",
            "change_role_negotiator": "on", "role_negotiator": str(collectors[0].pk),
            "add_note": "on", "note_type": str(note_type.pk), "note_body": "Moved to legal",
            "add_alert": "on", "alert_message": "Call the attorney first",
            "alert_expires": expires.isoformat(),
            f"change_cf_{score.pk}": "on", f"cf_{score.pk}": "1,250.50",
        },
    )  # fmt: skip
    assert operation.status == "succeeded" and operation.succeeded == 7
    assert AccountAccess.objects.filter(company=partner, account_id__in=ids(accounts)).count() == 7
    assert set(
        AccountRoleAssignment.objects.filter(role="negotiator").values_list("user_id", flat=True)
    ) == {collectors[0].pk}
    assert Note.objects.filter(body="Moved to legal", note_type=note_type).count() == 7
    alerts = Alert.objects.filter(message="Call the attorney first", is_active=True)
    assert alerts.count() == 7
    assert timezone.localtime(alerts.first().expires_at).date() == expires
    assert set(CustomFieldValue.objects.filter(field=score).values_list("value", flat=True)) == {
        "1250.5"
    }
    # The partner now sees the accounts.
    partner_user = UserFactory(company=partner, role=COLLECTOR)
    from accounts.selectors import accounts_visible_to

    assert accounts_visible_to(partner_user).count() == 7


def test_only_ticked_fields_change_and_already_as_asked_is_skipped(supervisor, accounts):
    promised = AccountStatusFactory(name="Promise", company=None)
    account_services.change_status(actor=supervisor, account_ids=[accounts[0].pk], status=promised)
    operation = run(
        supervisor,
        accounts,
        # The stage is given but not ticked: it stays.
        {"change_status": "on", "status": str(promised.pk), "stage": "sent"},
    )
    assert operation.succeeded == 6 and operation.skipped == 1
    assert set(column(accounts, "stage")) == {"not_set"}


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({}, "__all__", "Tick at least one field"),
        ({"stage": "sent"}, "__all__", "Tick at least one field"),
        ({"change_status": "on"}, "status", "Pick the new status"),
        (
            {"change_created_at": "on", "created_at": "2999-01-01T10:00"},
            "created_at",
            "cannot be in the future",
        ),
        (
            {"change_flags": "on"},
            "add_flags",
            "Pick flags to add or to remove",
        ),
        (
            {"add_alert": "on", "alert_message": "x", "alert_expires": "2000-01-01"},
            "alert_expires",
            "after today",
        ),
    ],
)
def test_bad_input_gets_a_clear_message(supervisor, data, field, message):
    form = form_of(supervisor, data)
    assert not form.is_valid()
    assert message in " ".join(form.errors[field])


def test_another_companys_rows_are_not_offered(supervisor, other_company, company):
    theirs_type = NoteType.objects.create(name="Theirs", company=other_company)
    theirs_user = UserFactory(company=other_company, role=COLLECTOR)
    form = form_of(
        supervisor,
        {
            "add_note": "on", "note_type": str(theirs_type.pk), "note_body": "x",
            "change_role_legal": "on", "role_legal": str(theirs_user.pk),
            "change_access": "on", "access_company": str(company.pk), "access_action": "grant",
        },
    )  # fmt: skip
    assert not form.is_valid()
    assert {"note_type", "role_legal", "access_company"} <= set(form.errors)


def test_custom_field_value_of_the_wrong_type(supervisor, company):
    when = CustomField.objects.create(
        company=company, name="Court date", key="court", field_type=CustomField.FieldType.DATE
    )
    form = form_of(supervisor, {f"change_cf_{when.pk}": "on", f"cf_{when.pk}": "next week"})
    assert not form.is_valid()
    assert "YYYY-MM-DD" in " ".join(form.errors[f"cf_{when.pk}"])


def test_a_collector_may_not_mass_edit(client, collector, accounts):
    client.force_login(collector)
    response = client.get(reverse("bulkops:action-dialog", args=["mass_edit"]))
    assert response.status_code in (403, 404)


def test_undo_puts_back_every_section_and_skips_what_changed_since(
    supervisor, accounts, company, collectors
):
    partner = CompanyFactory(name="Partner Law")
    promised = AccountStatusFactory(name="Promise", company=None)
    disputed = AccountStatusFactory(name="Disputed", company=None)
    vip = FlagFactory(name="VIP", company=None)
    score = CustomField.objects.create(company=company, name="Score", key="score")
    CustomFieldValue.objects.create(account=accounts[1], field=score, value="old")
    before = {name: column(accounts, name) for name in ("status", "stage", "assigned_to")}
    operation = run(
        supervisor,
        accounts,
        {
            "change_assigned_to": "on", "assigned_to": [str(c.pk) for c in collectors[:2]],
            "change_status": "on", "status": str(promised.pk),
            "change_stage": "on", "stage": "pending",
            "change_flags": "on", "add_flags": [str(vip.pk)],
            "change_access": "on", "access_company": str(partner.pk), "access_action": "grant",
            "change_role_legal": "on", "role_legal": str(collectors[2].pk),
            f"change_cf_{score.pk}": "on", f"cf_{score.pk}": "new",
            "add_alert": "on", "alert_message": "Mass alert",
            "add_note": "on", "note_type": str(NoteType.objects.create(name="N").pk),
            "note_body": "Why",
        },
    )  # fmt: skip
    assert operation.succeeded == 7
    someone = UserFactory(company=company, role=COLLECTOR, first_name="Sam", last_name="Else")
    account_services.change_status(actor=someone, account_ids=[accounts[6].pk], status=disputed)

    undoing = undo(supervisor, operation)
    assert undoing.status == "succeeded", undoing.error
    assert undoing.succeeded == 6 and undoing.skipped == 1
    reason = BulkOperationItem.objects.get(operation=undoing, target_id=accounts[6].pk).reason
    assert reason.startswith("changed since by Sam Else at ")
    back = accounts[:6]
    for name in ("status", "stage", "assigned_to"):
        assert column(back, name) == before[name][:6]
    assert column(accounts[6:], "status") == [disputed.pk]
    assert not AccountFlag.objects.filter(account_id__in=ids(back), flag=vip).exists()
    assert not AccountAccess.objects.filter(account_id__in=ids(back)).exists()
    assert not AccountRoleAssignment.objects.filter(account_id__in=ids(back)).exists()
    assert dict(
        CustomFieldValue.objects.filter(field=score).values_list("account_id", "value")
    ) == {
        accounts[1].pk: "old",
        accounts[6].pk: "new",
    }
    assert Alert.objects.filter(message="Mass alert", is_active=True).count() == 1  # the skipped
    assert Note.objects.filter(body="Why").count() == 7  # notes are the record: kept

    # Undo of the undo redoes, where the undo's values still hold.
    redo = undo(supervisor, undoing)
    assert redo.status == "succeeded", redo.error
    assert column(back, "status") == [promised.pk] * 6
    assert AccountFlag.objects.filter(account_id__in=ids(back), flag=vip).count() == 6
    assert AccountAccess.objects.filter(account_id__in=ids(accounts)).count() == 7
    assert CustomFieldValue.objects.get(account=accounts[1], field=score).value == "new"
    assert Alert.objects.filter(message="Mass alert", is_active=True).count() == 7


def test_undo_of_created_at_and_file_type(supervisor, accounts, company):
    file_type = FileType.objects.create(name="Auto", company=company)
    before = column(accounts, "created_at")
    operation = run(
        supervisor,
        accounts,
        {
            "change_created_at": "on", "created_at": "2020-05-01T09:30",
            "change_file_type": "on", "file_type": str(file_type.pk),
        },
    )  # fmt: skip
    assert operation.succeeded == 7
    undoing = undo(supervisor, operation)
    assert undoing.succeeded == 7, list(BulkOperationItem.objects.values_list("reason"))
    assert column(accounts, "created_at") == before
    assert column(accounts, "file_type") == [None] * 7


def test_mass_edit_successful_above_the_navigation(client, supervisor, accounts):
    operation = run(supervisor, accounts, {"change_stage": "on", "stage": "sent"})
    client.force_login(supervisor)
    page = client.get(reverse("bulkops:operation-detail", args=[operation.pk])).content.decode()
    assert "Mass Edit Successful" in page
    assert page.index("Mass Edit Successful") < page.index('aria-label="Main"')
    assert "Undo" in page


def test_undo_refused_while_running_twice_or_for_another_company(
    client, supervisor, accounts, other_company
):
    running = start(supervisor, accounts, {"change_stage": "on", "stage": "sent"})
    with pytest.raises(services.OperationRefused):
        services.start_undo(user=supervisor, operation=running)  # still queued
    services.run_operation(running.pk)
    running.refresh_from_db()
    undoing = services.start_undo(user=supervisor, operation=running)
    with pytest.raises(services.OperationRefused):
        services.start_undo(user=supervisor, operation=running)  # twice
    assert BulkOperationItem.objects.filter(operation__undoes=running).count() == 7
    # Nothing else starts on these accounts while the undo runs.
    with pytest.raises(services.OperationRefused, match="still working"):
        start(supervisor, accounts, {"change_stage": "on", "stage": "pending"})
    services.run_operation(undoing.pk)

    finished = run(supervisor, accounts, {"change_stage": "on", "stage": "pending"})
    outsider = UserFactory(company=other_company, role=SUPERVISOR)
    client.force_login(outsider)
    response = client.post(reverse("bulkops:operation-undo", args=[finished.pk]))
    assert response.status_code == 404
    assert not finished.undone_by.exists()
    assert set(column(accounts, "stage")) == {"pending"}


def test_assigned_to_with_counts_as_assign_to(supervisor, accounts, collectors):
    import json

    before = column(accounts, "assigned_to")
    rows = [{"collector": str(collectors[0].pk), "count": 3}, {"collector": "unassign", "count": 1}]
    operation = run(
        supervisor,
        accounts,
        {"change_assigned_to": "on", "assign_mode": "counts", "assignments": json.dumps(rows)},
    )
    after = column(accounts, "assigned_to")
    assert after.count(collectors[0].pk) == 3
    changed = [pk for pk, old, new in zip(ids(accounts), before, after, strict=True) if old != new]
    assert len(changed) == operation.succeeded
    # The three not drawn keep their assignment; Unassign cleared one.
    assert sum(1 for old, new in zip(before, after, strict=True) if old == new) >= 3
    assert after.count(None) >= 1


def test_counts_over_the_selection_are_refused(supervisor, collectors):
    import json

    rows = [{"collector": str(collectors[0].pk), "count": 8}]
    form = form_of(
        supervisor,
        {"change_assigned_to": "on", "assign_mode": "counts", "assignments": json.dumps(rows)},
    )
    assert not form.is_valid()
    assert "more than the 7 accounts selected" in " ".join(form.errors["assign_mode"])
