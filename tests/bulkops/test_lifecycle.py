"""The engine's part of approval, scheduling, the verification step and undo,
exercised with small actions of the tests' own that use each hook (the real
actions that need them come with their features): an operation waits for
another eligible user's approval, expires, is scheduled for its run-at date
and released by beat, refuses a confirmation that skipped its preview, and
is undone by its action's inverse exactly once."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.actions import StageForm, UpdateStage
from accounts.models import Account
from bulkops import registry, services
from bulkops.models import AuditEvent, BulkOperation
from bulkops.selection import Selection
from bulkops.services import engine
from tests.factories import UserFactory, create_accounts

pytestmark = pytest.mark.django_db

Status = BulkOperation.Status
APPROVE = "bulkops.cancel_bulkoperation"  # the toy actions' approval permission
LATER = timezone.now() + dt.timedelta(days=2)


class ApprovedStage(UpdateStage):
    """Update Stage that waits for a supervisor's approval over 2 accounts."""

    key = "approved_stage"
    label = "Approved stage"
    approval_permission = APPROVE

    def approval_needed(self, user, parameters, count, *, operation):
        return f"More than 2 accounts ({count})" if count > 2 else ""


class ScheduledStage(UpdateStage):
    key = "scheduled_stage"
    label = "Scheduled stage"
    approval_permission = APPROVE
    when = LATER

    def run_at(self, parameters):
        return self.when

    def approval_needed(self, user, parameters, count, *, operation):
        return "Always asked" if parameters.get("stage") == "pending" else ""


class PreviewedStage(UpdateStage):
    key = "previewed_stage"
    label = "Previewed stage"
    preview_template = "bulkops/_form_fields.html"
    preview_title = "Verification"

    def preview_context(self, form, *, user, selection):
        return {"own_fields": []}


class ReversibleStage(UpdateStage):
    """Update Stage whose inverse puts back each account's stage before."""

    key = "reversible_stage"
    label = "Reversible stage"
    inverse = "stage_back"

    def undo_items(self, operation):
        return (
            (event.object_id, event.changes["stage"][0])
            for event in AuditEvent.objects.filter(
                bulk_operation=operation, action="account.stage_updated"
            ).order_by("object_id")
        )


class StageBack(registry.BulkAction):
    key = "stage_back"
    label = "Stage back"
    target = "accounts"
    permission = "accounts.update_account_stage"
    form_class = StageForm

    def apply(self, items, operation):
        outcomes = registry.Outcomes()
        by_stage: dict[str, list[int]] = {}
        for item in items:
            by_stage.setdefault(item.argument, []).append(item.target_id)
        for stage, ids in by_stage.items():
            outcomes.merge(
                account_services.update_stage(
                    actor=operation.created_by, account_ids=ids, stage=stage,
                    bulk_operation=operation,
                )
            )  # fmt: skip
        return outcomes


@pytest.fixture(autouse=True)
def toy_actions(monkeypatch):
    toys = {
        a.key: a
        for a in (ApprovedStage, ScheduledStage, PreviewedStage, ReversibleStage, StageBack)
    }
    monkeypatch.setattr(registry, "_REGISTRY", {**registry._REGISTRY, **toys})


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(engine, "enqueue_operation", calls.append)
    return calls


@pytest.fixture
def requester(company):
    user = UserFactory(company=company)
    user.user_permissions.add(Permission.objects.get(codename="update_account_stage"))
    return user


@pytest.fixture
def approver(company):
    user = UserFactory(company=company)
    for codename in ("update_account_stage", "cancel_bulkoperation", "view_bulkoperation"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def accounts(company):
    return create_accounts(4, company=company)


def start(user, accounts, action, data=None, **extra):
    return services.start_operation(
        user=user,
        action_key=action,
        selection=Selection("accounts", ids=frozenset(a.pk for a in accounts)),
        confirmed_count=len(accounts),
        data={"stage": "sent", **(data or {})},
        idempotency_key=uuid.uuid4().hex,
        **extra,
    )


def stages(accounts):
    return list(
        Account.objects.filter(pk__in=[a.pk for a in accounts])
        .order_by("pk")
        .values_list("stage", flat=True)
    )


# --- approval -----------------------------------------------------------------------------


def test_an_operation_over_the_limit_waits_for_approval_and_is_not_sent(
    django_capture_on_commit_callbacks, requester, accounts, enqueued
):
    with django_capture_on_commit_callbacks(execute=True):
        operation = start(requester, accounts, "approved_stage")
    assert operation.status == Status.PENDING_APPROVAL
    assert operation.approval_reason == "More than 2 accounts (4)"
    assert enqueued == []
    assert services.process_next_chunk(operation.pk) == "waiting"
    assert stages(accounts) == ["not_set"] * 4
    started = AuditEvent.objects.get(action="bulk_operation.started")
    assert started.changes["status"] == [None, "pending_approval"]

    small = start(requester, accounts[:2], "approved_stage")
    assert small.status == Status.QUEUED


def test_another_eligible_user_approves_and_it_runs(
    django_capture_on_commit_callbacks, requester, approver, accounts, enqueued
):
    operation = start(requester, accounts, "approved_stage")
    with pytest.raises(services.OperationRefused, match="your own request"):
        services.approve(user=requester, operation=operation)
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(user=approver, operation=operation)
    operation.refresh_from_db()
    assert (operation.status, operation.decided_by) == (Status.QUEUED, approver)
    assert enqueued == [operation.pk]
    assert services.run_operation(operation.pk) == "finished"
    assert stages(accounts) == ["sent"] * 4
    assert AuditEvent.objects.filter(action="bulk_operation.approved", actor=approver).exists()
    with pytest.raises(services.OperationRefused, match="no longer waits"):
        services.approve(user=approver, operation=operation)


def test_a_user_without_the_approval_permission_may_not_decide(requester, accounts, company):
    operation = start(requester, accounts, "approved_stage")
    colleague = UserFactory(company=company)
    with pytest.raises(services.OperationRefused, match="may not approve"):
        services.approve(user=colleague, operation=operation)
    with pytest.raises(services.OperationRefused, match="may not approve"):
        services.reject(user=colleague, operation=operation, reason="No")


def test_a_rejection_needs_a_reason_and_is_final(requester, approver, accounts):
    operation = start(requester, accounts, "approved_stage")
    with pytest.raises(services.OperationRefused, match="Say why"):
        services.reject(user=approver, operation=operation, reason="  ")
    services.reject(user=approver, operation=operation, reason="Wrong list")
    operation.refresh_from_db()
    assert operation.status == Status.REJECTED and operation.decision_note == "Wrong list"
    assert operation.is_final and operation.finished_at is not None
    assert services.process_next_chunk(operation.pk) == "finished"
    assert stages(accounts) == ["not_set"] * 4
    with pytest.raises(services.OperationRefused, match="Wait for the operation to finish"):
        services.retry_failed(user=approver, operation=operation)


def test_an_approver_can_cancel_a_waiting_operation(requester, approver, accounts):
    operation = start(requester, accounts, "approved_stage")
    services.request_cancel(user=approver, operation=operation)
    operation.refresh_from_db()
    assert operation.status == Status.CANCELLED
    assert operation.items.filter(outcome="skipped").count() == 4


def test_an_approval_whose_run_at_passed_expires(requester, approver, accounts, monkeypatch):
    monkeypatch.setattr(ScheduledStage, "when", timezone.now() + dt.timedelta(minutes=5))
    operation = start(requester, accounts, "scheduled_stage", {"stage": "pending"})
    assert operation.status == Status.PENDING_APPROVAL
    later = timezone.now() + dt.timedelta(minutes=10)
    assert services.expire_stale_approvals(now=later) == 1
    operation.refresh_from_db()
    assert operation.status == Status.EXPIRED

    monkeypatch.setattr(ScheduledStage, "when", timezone.now() - dt.timedelta(seconds=1))
    late = start(requester, accounts, "scheduled_stage", {"stage": "pending"})
    with pytest.raises(services.OperationRefused, match="expired"):
        services.approve(user=approver, operation=late)
    late.refresh_from_db()
    assert late.status == Status.EXPIRED


# --- schedule -----------------------------------------------------------------------------


def test_a_scheduled_operation_waits_for_its_date_then_beat_releases_it(
    django_capture_on_commit_callbacks, requester, accounts, enqueued
):
    operation = start(requester, accounts, "scheduled_stage")
    assert (operation.status, operation.run_at) == (Status.SCHEDULED, LATER)
    assert enqueued == []
    assert services.release_scheduled_operations() == []
    with django_capture_on_commit_callbacks(execute=True):
        released = services.release_scheduled_operations(now=LATER + dt.timedelta(seconds=1))
    assert released == [operation.pk]
    operation.refresh_from_db()
    assert operation.status == Status.QUEUED and enqueued == [operation.pk]


def test_an_approved_scheduled_operation_is_scheduled(requester, approver, accounts):
    operation = start(requester, accounts, "scheduled_stage", {"stage": "pending"})
    services.approve(user=approver, operation=operation)
    operation.refresh_from_db()
    assert operation.status == Status.SCHEDULED


# --- the verification step ----------------------------------------------------------------


def test_a_confirmation_that_skipped_the_preview_is_refused(requester, accounts):
    with pytest.raises(services.OperationRefused, match="check it again"):
        start(requester, accounts, "previewed_stage")
    action = registry.get_action("previewed_stage")
    other = services.preview_token(action, count=4, parameters={"stage": "pending"})
    with pytest.raises(services.OperationRefused, match="check it again"):
        start(requester, accounts, "previewed_stage", {"preview_token": other})
    token = services.preview_token(action, count=4, parameters={"stage": "sent"})
    assert start(requester, accounts, "previewed_stage", {"preview_token": token}).total == 4


def test_the_dialog_goes_through_the_preview_page(client, company, accounts):
    from accounts.selectable import ACCOUNTS

    user = UserFactory(company=company)
    for codename in ("update_account_stage", "add_bulkoperation", "view_bulkoperation"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    session = client.session
    session[ACCOUNTS.session_key] = Selection(
        "accounts", ids=frozenset(a.pk for a in accounts)
    ).to_dict()
    session.save()
    dialog = client.get(reverse("bulkops:action-dialog", args=["previewed_stage"])).content.decode()
    assert reverse("bulkops:action-preview", args=["previewed_stage"]) in dialog
    preview = client.post(
        reverse("bulkops:action-preview", args=["previewed_stage"]),
        {"state": "", "stage": "sent", "idempotency_key": "k-preview"},
    )
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "Previewed stage: Verification" in body and 'name="preview_token"' in body
    token = body.split('name="preview_token" value="')[1].split('"')[0]
    confirmed = client.post(
        reverse("bulkops:action-confirm", args=["previewed_stage"]),
        {
            "state": "",
            "stage": "sent",
            "confirmed_count": "4",
            "idempotency_key": "k-preview",
            "preview_token": token,
        },
    )
    assert confirmed.status_code == 302
    assert BulkOperation.objects.get(kind="previewed_stage").total == 4


# --- undo -------------------------------------------------------------------------------------


def test_undo_reverses_what_the_operation_changed_once(requester, accounts):
    Account.objects.filter(pk=accounts[0].pk).update(stage="pending")
    Account.objects.filter(pk=accounts[1].pk).update(stage="sent")  # will be skipped
    operation = start(requester, accounts, "reversible_stage")
    services.run_operation(operation.pk)
    assert stages(accounts) == ["sent"] * 4
    operation.refresh_from_db()
    assert services.may_undo(requester, operation)

    undo = services.start_undo(user=requester, operation=operation)
    assert (undo.kind, undo.undoes, undo.total) == ("stage_back", operation, 3)
    services.run_operation(undo.pk)
    assert stages(accounts) == ["pending", "sent", "not_set", "not_set"]
    with pytest.raises(services.OperationRefused, match="cannot be undone"):
        services.start_undo(user=requester, operation=operation)
    assert not services.may_undo(requester, undo)  # stage_back has no inverse


# --- the operation page -------------------------------------------------------------------


def page(client, user, operation) -> str:
    client.force_login(user)
    return client.get(reverse("bulkops:operation-detail", args=[operation.pk])).content.decode()


def test_the_page_offers_approve_and_reject_to_an_approver_only(
    client, requester, approver, accounts
):
    requester.user_permissions.add(Permission.objects.get(codename="view_bulkoperation"))
    operation = start(requester, accounts, "approved_stage")
    mine = page(client, requester, operation)
    assert 'data-testid="waiting-for-approval"' in mine and "Approve</button>" not in mine
    refused = client.post(reverse("bulkops:operation-approve", args=[operation.pk]), follow=True)
    assert "You cannot approve or reject your own request." in refused.content.decode()

    theirs = page(client, approver, operation)
    assert "Approve</button>" in theirs and "Reject</button>" in theirs
    response = client.post(
        reverse("bulkops:operation-reject", args=[operation.pk]), {"reason": "Not now"}, follow=True
    )
    assert "Rejected: it will not run." in response.content.decode()
    assert "Rejected by" in response.content.decode()
    operation.refresh_from_db()
    assert operation.status == Status.REJECTED


def test_the_page_offers_undo_once(client, requester, accounts):
    for codename in ("view_bulkoperation", "add_bulkoperation"):
        requester.user_permissions.add(Permission.objects.get(codename=codename))
    operation = start(requester, accounts, "reversible_stage")
    services.run_operation(operation.pk)
    assert "Undo</button>" in page(client, requester, operation)
    response = client.post(reverse("bulkops:operation-undo", args=[operation.pk]), follow=True)
    undo = BulkOperation.objects.get(kind="stage_back")
    assert response.redirect_chain[-1][0] == reverse("bulkops:operation-detail", args=[undo.pk])
    assert f'Undoes <a href="{reverse("bulkops:operation-detail", args=[operation.pk])}">' in (
        response.content.decode()
    )
    assert "Undo</button>" not in page(client, requester, operation)
