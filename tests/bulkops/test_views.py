"""Bulk-operation pages through the test client: the action dialog and its
confirmation, progress, the operations list and detail (outcomes, CSV,
cancel, retry), the audit log; permissions and company isolation.

The on-commit enqueue is recorded, never sent to Celery; where an operation
must have run, the test runs it in-process."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AccountStatus
from accounts.roles import COLLECTOR, SUPERVISOR
from accounts.selectable import ACCOUNTS
from bulkops import services
from bulkops.models import AuditEvent, BulkOperation, BulkOperationItem
from bulkops.selection import Selection
from bulkops.services import engine
from tests.accounts.test_grid_views import get_grid, parse_counter
from tests.factories import (
    AccountStatusFactory,
    BulkOperationFactory,
    BulkOperationItemFactory,
    UserFactory,
    create_accounts,
)

pytestmark = pytest.mark.django_db

Outcome = BulkOperationItem.Outcome
Status = BulkOperation.Status
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(engine, "enqueue_operation", calls.append)
    return calls


@pytest.fixture
def accounts(company):
    return create_accounts(7, company=company)


@pytest.fixture
def theirs(other_company):
    return create_accounts(3, company=other_company)


@pytest.fixture
def outsider(other_company):
    return UserFactory(username="outsider", company=other_company, role=SUPERVISOR)


@pytest.fixture
def as_supervisor(client, supervisor):
    client.force_login(supervisor)
    return client


def put_selection(client, selection: Selection) -> None:
    """Store a selection in the session as the grid would (or a tampered one)."""
    session = client.session
    session[ACCOUNTS.session_key] = selection.to_dict()
    session.save()


def select_ids(client, accounts) -> None:
    put_selection(client, Selection("accounts", ids=frozenset(a.pk for a in accounts)))


def dialog_url(key="stage"):
    return reverse("bulkops:action-dialog", args=[key])


def confirm_url(key="stage"):
    return reverse("bulkops:action-confirm", args=[key])


def detail_url(operation):
    return reverse("bulkops:operation-detail", args=[operation.pk])


def dialog_count(content: str) -> int | None:
    match = re.search(
        r'data-testid="dialog-count">This will apply to <strong>([\d,]+)</strong> account',
        content,
    )
    return int(match.group(1).replace(",", "")) if match else None


def hidden(content: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', content).group(1)


def notice(content: str) -> str | None:
    match = re.search(r'data-testid="dialog-notice">([^<]*)<', content)
    return match.group(1) if match else None


def open_dialog(client, key="stage", state=""):
    response = client.get(dialog_url(key), {"state": state}, headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def confirm(client, content: str, key="stage", *, headers=None, **fields):
    """Submit the dialog ``content`` as rendered, with ``fields`` on top."""
    data = {
        "state": hidden(content, "state"),
        "confirmed_count": hidden(content, "confirmed_count"),
        "idempotency_key": hidden(content, "idempotency_key"),
        **fields,
    }
    return client.post(confirm_url(key), data, headers=headers)


# --- the dialog ---------------------------------------------------------------------------


def test_the_dialog_shows_the_exact_number_of_selected_accounts(as_supervisor, accounts, theirs):
    put_selection(as_supervisor, Selection("accounts").select_all().toggle(accounts[2].pk, False))
    content = open_dialog(as_supervisor)
    assert dialog_count(content) == 6
    assert "This will apply to <strong>6</strong> accounts." in content
    assert hidden(content, "confirmed_count") == "6"
    assert re.fullmatch(r"[0-9a-f]{32}", hidden(content, "idempotency_key"))
    # Each opening gets its own key.
    assert hidden(open_dialog(as_supervisor), "idempotency_key") != hidden(
        content, "idempotency_key"
    )
    select_ids(as_supervisor, accounts[:1])
    content = open_dialog(as_supervisor)
    assert "This will apply to <strong>1</strong> account." in content


def test_the_dialog_counts_the_grids_selection(as_supervisor, company):
    create_accounts(4, company=company, stage="pending")
    create_accounts(3, company=company)
    get_grid(as_supervisor, {"stage": "pending"})
    response = as_supervisor.post(
        reverse("accounts:selection"), {"op": "all", "state": "stage=pending"}
    )
    assert parse_counter(response.content.decode()) == (4, 4)
    content = open_dialog(as_supervisor, state="stage=pending&sort=-file_number")
    assert dialog_count(content) == 4
    assert notice(content) is None


def test_a_tampered_selection_counts_only_visible_accounts(as_supervisor, accounts, theirs):
    select_ids(as_supervisor, theirs)
    content = open_dialog(as_supervisor)
    assert dialog_count(content) == 0
    assert re.search(r'<button type="submit"[^>]*disabled', content)


def test_the_assign_dialog_offers_the_companys_active_collectors(
    as_supervisor, company, other_company, accounts
):
    alice = UserFactory(first_name="Alice", last_name="Adams", company=company, role=COLLECTOR)
    UserFactory(
        first_name="Carol", last_name="Gone", company=company, role=COLLECTOR, is_active=False
    )
    UserFactory(first_name="Dave", last_name="Elsewhere", company=other_company, role=COLLECTOR)
    select_ids(as_supervisor, accounts)
    content = open_dialog(as_supervisor, "assign")
    options = re.findall(r'<option value="([^"]*)" data-id="([^"]*)">', content)
    assert options == [("Unassign", "unassign"), ("Alice Adams", str(alice.pk))]
    assert 'max="7"' in content
    assert "Pending Only" in content


def test_a_collector_may_not_open_or_confirm_a_dialog(client, collector, accounts):
    client.force_login(collector)
    select_ids(client, accounts)
    assert client.get(dialog_url()).status_code == 403
    response = client.post(
        confirm_url(),
        {"state": "", "confirmed_count": "7", "idempotency_key": "k1", "stage": "sent"},
    )
    assert response.status_code == 403
    assert not BulkOperation.objects.exists()


def test_the_actions_own_permission_is_required(client, company, accounts):
    user = UserFactory(company=company)
    user.user_permissions.add(
        Permission.objects.get(codename="add_bulkoperation"),
        Permission.objects.get(codename="update_account_stage"),
    )
    client.force_login(user)
    select_ids(client, accounts)
    assert client.get(dialog_url("stage")).status_code == 200
    assert client.get(dialog_url("assign")).status_code == 403
    response = client.post(
        confirm_url("assign"),
        {"state": "", "confirmed_count": "7", "idempotency_key": "k2", "assignments": "[]"},
    )
    assert response.status_code == 403
    assert not BulkOperation.objects.exists()


def test_an_unknown_action_is_404(as_supervisor):
    assert as_supervisor.get(dialog_url("explode")).status_code == 404
    assert as_supervisor.post(confirm_url("explode"), {}).status_code == 404


def test_dialog_is_get_only_and_confirm_post_only(as_supervisor):
    assert as_supervisor.post(dialog_url()).status_code == 405
    assert as_supervisor.get(confirm_url()).status_code == 405


# --- confirming ----------------------------------------------------------------------------


def test_confirm_creates_the_operation_and_redirects_to_it(
    as_supervisor, supervisor, accounts, enqueued, django_capture_on_commit_callbacks
):
    select_ids(as_supervisor, accounts[:5])
    content = open_dialog(as_supervisor)
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(as_supervisor, content, stage="sent")
    operation = BulkOperation.objects.get()
    assert response.status_code == 302
    assert response.url == detail_url(operation)
    assert enqueued == [operation.pk]
    assert (operation.kind, operation.created_by, operation.total) == ("stage", supervisor, 5)
    assert operation.idempotency_key == hidden(content, "idempotency_key")


def test_an_htmx_confirm_answers_with_hx_redirect(
    as_supervisor, accounts, enqueued, django_capture_on_commit_callbacks
):
    select_ids(as_supervisor, accounts)
    content = open_dialog(as_supervisor)
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(as_supervisor, content, headers=HTMX, stage="pending")
    operation = BulkOperation.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == detail_url(operation)
    assert enqueued == [operation.pk]


def test_a_double_clicked_confirm_creates_one_operation(
    as_supervisor, accounts, enqueued, django_capture_on_commit_callbacks
):
    select_ids(as_supervisor, accounts)
    content = open_dialog(as_supervisor)
    with django_capture_on_commit_callbacks(execute=True):
        first = confirm(as_supervisor, content, headers=HTMX, stage="sent")
        second = confirm(as_supervisor, content, headers=HTMX, stage="sent")
    operation = BulkOperation.objects.get()
    assert first["HX-Redirect"] == second["HX-Redirect"] == detail_url(operation)
    assert enqueued == [operation.pk]
    assert operation.items.count() == 7


def test_a_changed_count_shows_the_new_count_and_asks_again(as_supervisor, accounts, other_company):
    select_ids(as_supervisor, accounts)
    content = open_dialog(as_supervisor)
    Account.objects.filter(pk__in=[accounts[0].pk, accounts[1].pk]).update(company=other_company)
    response = confirm(as_supervisor, content, stage="sent")
    assert response.status_code == 409
    again = response.content.decode()
    assert notice(again) == (
        "The selection now holds 5 accounts, not the 7 you confirmed. "
        "Check the number and confirm again."
    )
    assert dialog_count(again) == 5
    assert hidden(again, "confirmed_count") == "5"
    assert 'value="sent" selected' in again  # the choice made is kept
    assert not BulkOperation.objects.exists()

    response = confirm(as_supervisor, again, stage="sent")
    assert response.status_code == 302
    assert BulkOperation.objects.get().total == 5


def test_invalid_parameters_redisplay_the_dialog_with_the_error(as_supervisor, company, accounts):
    collector = UserFactory(company=company, role=COLLECTOR)
    select_ids(as_supervisor, accounts)
    content = open_dialog(as_supervisor, "assign")
    raw = json.dumps([{"collector": str(collector.pk), "count": 9}])
    response = confirm(as_supervisor, content, "assign", assignments=raw, credit_payments="off")
    assert response.status_code == 422
    body = response.content.decode()
    assert "The counts add up to 9, more than the 7 accounts selected." in body
    assert dialog_count(body) == 7
    assert not BulkOperation.objects.exists()

    for bad in ("-2", "abc"):
        raw = json.dumps([{"collector": str(collector.pk), "count": bad}])
        response = confirm(as_supervisor, content, "assign", assignments=raw, credit_payments="off")
        assert response.status_code == 422
    assert "Each number of accounts must be a whole number." in response.content.decode()
    assert not BulkOperation.objects.exists()


def test_a_status_deactivated_while_the_dialog_was_open(as_supervisor, accounts):
    disputed = AccountStatusFactory(name="Disputed")
    select_ids(as_supervisor, accounts)
    content = open_dialog(as_supervisor, "change_status")
    assert f'value="{disputed.pk}"' in content
    AccountStatus.objects.filter(pk=disputed.pk).update(is_active=False)
    response = confirm(as_supervisor, content, "change_status", status=disputed.pk)
    assert response.status_code == 422
    assert "That status is no longer available (it may have been deactivated). Pick another." in (
        response.content.decode()
    )
    assert not BulkOperation.objects.exists()
    assert not Account.objects.filter(status=disputed).exists()


def test_a_collector_deactivated_while_the_dialog_was_open(as_supervisor, company, accounts):
    collector = UserFactory(company=company, role=COLLECTOR)
    select_ids(as_supervisor, accounts)
    content = open_dialog(as_supervisor, "assign")
    collector.is_active = False
    collector.save()
    raw = json.dumps([{"collector": str(collector.pk), "count": 2}])
    response = confirm(as_supervisor, content, "assign", assignments=raw, credit_payments="all")
    assert response.status_code == 422
    assert "One of the collectors is no longer available" in response.content.decode()
    assert not BulkOperation.objects.exists()


@pytest.mark.parametrize("count", ["", "seven", "7.0"])
def test_a_non_numeric_confirmed_count_asks_again(as_supervisor, accounts, count):
    select_ids(as_supervisor, accounts)
    response = as_supervisor.post(
        confirm_url(),
        {"state": "", "confirmed_count": count, "idempotency_key": "k3", "stage": "sent"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert notice(body) == "This dialog is out of date; check the number and confirm again."
    assert dialog_count(body) == 7
    assert not BulkOperation.objects.exists()


def test_a_tampered_selection_changes_nothing(as_supervisor, accounts, theirs):
    select_ids(as_supervisor, theirs)
    response = as_supervisor.post(
        confirm_url(),
        {"state": "", "confirmed_count": "3", "idempotency_key": "k4", "stage": "sent"},
    )
    assert response.status_code == 409
    assert notice(response.content.decode()) == "No accounts are selected."
    assert not BulkOperation.objects.exists()
    assert set(Account.objects.values_list("stage", flat=True)) == {"not_set"}


def test_an_overlapping_operation_is_refused_with_a_message(as_supervisor, accounts):
    select_ids(as_supervisor, accounts[:4])
    assert confirm(as_supervisor, open_dialog(as_supervisor), stage="sent").status_code == 302
    first = BulkOperation.objects.get()
    select_ids(as_supervisor, accounts[3:])
    response = confirm(as_supervisor, open_dialog(as_supervisor), stage="pending")
    assert response.status_code == 409
    assert notice(response.content.decode()) == (
        f"Bulk operation #{first.pk} (Update Stage) is still working on some of these "
        "accounts. Wait for it to finish, or cancel it, and try again."
    )
    assert BulkOperation.objects.count() == 1


# --- progress ----------------------------------------------------------------------------------


def progress_url(operation):
    return reverse("bulkops:operation-progress", args=[operation.pk])


def test_progress_polls_while_running_and_stops_when_finished(
    as_supervisor, supervisor, accounts, monkeypatch
):
    from accounts.actions import UpdateStage

    monkeypatch.setattr(UpdateStage, "chunk_size", 3)
    select_ids(as_supervisor, accounts)
    confirm(as_supervisor, open_dialog(as_supervisor), stage="sent")
    operation = BulkOperation.objects.get()

    response = as_supervisor.get(progress_url(operation), headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert f'hx-get="{progress_url(operation)}"' in body
    assert 'data-status="queued"' in body

    services.process_next_chunk(operation.pk)
    body = as_supervisor.get(progress_url(operation), headers=HTMX).content.decode()
    assert 'data-status="running"' in body and 'hx-trigger="every 1s"' in body
    assert re.search(r"3\s+of\s+7\s+processed", body)
    assert 'aria-valuenow="42"' in body

    services.run_operation(operation.pk)
    response = as_supervisor.get(progress_url(operation), headers=HTMX)
    assert response.status_code == 286
    body = response.content.decode()
    assert "hx-trigger" not in body and "hx-get" not in body
    assert 'data-status="succeeded"' in body
    assert "Update Stage finished: succeeded. 7 changed, 0 skipped, 0 failed." in " ".join(
        body.split()
    )


# --- the operations list ------------------------------------------------------------------------


def listed(response) -> list[int]:
    assert response.status_code == 200
    return [operation.pk for operation in response.context["page"]]


def test_the_operations_list_filters_by_kind_user_status_and_date(
    as_supervisor, supervisor, company, outsider
):
    colleague = UserFactory(company=company, role=SUPERVISOR)

    def at(day):
        return dt.datetime(2025, 6, day, 12, tzinfo=dt.UTC)

    stage = BulkOperationFactory(created_by=supervisor, kind="stage", created_at=at(1))
    assign = BulkOperationFactory(
        created_by=colleague,
        kind="assign",
        created_at=at(10),
        status=Status.RUNNING,
        parameters={"assignments": [], "credit_payments": "off"},
    )
    flags = BulkOperationFactory(
        created_by=supervisor,
        kind="flags",
        created_at=at(20),
        status=Status.FAILED,
        parameters={"add": [], "remove": []},
    )
    BulkOperationFactory(created_by=outsider, kind="stage", created_at=at(10))

    url = reverse("bulkops:operation-list")
    assert listed(as_supervisor.get(url)) == [flags.pk, assign.pk, stage.pk]
    assert listed(as_supervisor.get(url, {"kind": "assign"})) == [assign.pk]
    assert listed(as_supervisor.get(url, {"created_by": colleague.pk})) == [assign.pk]
    assert listed(as_supervisor.get(url, {"status": "failed"})) == [flags.pk]
    assert listed(as_supervisor.get(url, {"status": "running"})) == [assign.pk]
    assert listed(as_supervisor.get(url, {"created_after": "2025-06-10"})) == [
        flags.pk,
        assign.pk,
    ]
    assert listed(
        as_supervisor.get(url, {"created_after": "2025-06-02", "created_before": "2025-06-10"})
    ) == [assign.pk]
    assert listed(as_supervisor.get(url, {"kind": "stage", "created_by": supervisor.pk})) == [
        stage.pk
    ]

    body = as_supervisor.get(url).content.decode()
    assert f'href="{detail_url(flags)}"' in body
    assert "Add/Remove Flags" in body
    # Another company's users are not offered as a filter.
    assert f'<option value="{outsider.pk}"' not in body
    assert f'<option value="{colleague.pk}"' in body


def test_collectors_see_operations_but_not_the_audit_log(client, collector):
    # Collectors start message batches for approval (issue 13), so they see
    # the company's operations; the audit log stays the supervisors'.
    client.force_login(collector)
    assert client.get(reverse("bulkops:operation-list")).status_code == 200
    assert client.get(reverse("bulkops:audit-log")).status_code == 403


# --- the detail page: outcomes, CSV ------------------------------------------------------------


@pytest.fixture
def finished(supervisor, company):
    """A finished operation over 55 accounts: 50 done, 2 skipped, 3 failed."""
    operation = BulkOperationFactory(
        created_by=supervisor,
        kind="stage",
        parameters={"stage": "sent"},
        status=Status.FAILED,
        confirmed_count=55,
        total=55,
        processed=55,
        succeeded=50,
        skipped=2,
        failed=3,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    accounts = create_accounts(55, company=company)
    when = dt.datetime(2025, 6, 1, 9, 30, tzinfo=dt.UTC)
    outcomes = [Outcome.DONE] * 50 + [Outcome.SKIPPED] * 2 + [Outcome.FAILED] * 3
    reasons = [""] * 50 + ["Already Sent"] * 2 + ["RuntimeError: boom"] * 3
    BulkOperationItem.objects.bulk_create(
        BulkOperationItem(
            operation=operation, target_id=a.pk, outcome=o, reason=r, processed_at=when
        )
        for a, o, r in zip(accounts, outcomes, reasons, strict=True)
    )
    return operation, accounts


def rows(response) -> list[list[str]]:
    body = response.content.decode()
    table = re.search(r'data-testid="outcomes">(.*?)</table>', body, re.S).group(1)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    ]


def test_detail_shows_parameters_counts_and_pages_outcomes(as_supervisor, finished):
    operation, accounts = finished
    response = as_supervisor.get(detail_url(operation))
    assert response.status_code == 200
    body = response.content.decode()
    assert f"#{operation.pk} · Update Stage to Sent" in body
    assert "55 accounts selected" in body
    assert "50 succeeded · 2 skipped · 3 failed" in " ".join(body.split())
    page_one = rows(response)
    assert len(page_one) == 50
    assert page_one[0][:2] == [accounts[0].file_number, "Done"]
    assert "Page 1 of 2" in body
    assert "?page=2" in body

    page_two = rows(as_supervisor.get(detail_url(operation), {"page": 2}))
    assert [r[0] for r in page_two] == [a.file_number for a in accounts[50:]]
    assert page_two[-1][1:3] == ["Failed", "RuntimeError: boom"]
    # A page past the end shows the last one.
    assert rows(as_supervisor.get(detail_url(operation), {"page": 99})) == page_two

    failed = as_supervisor.get(detail_url(operation), {"outcome": "failed"})
    assert [r[:3] for r in rows(failed)] == [
        [a.file_number, "Failed", "RuntimeError: boom"] for a in accounts[52:]
    ]
    assert "Page 1 of" not in failed.content.decode()
    done = as_supervisor.get(detail_url(operation), {"outcome": "done", "page": "2"})
    # 50 done accounts fit one page: page 2 of them shows that page.
    assert [r[0] for r in rows(done)] == [a.file_number for a in accounts[:50]]
    # An unknown outcome is ignored, as the other filters ignore bad values.
    assert len(rows(as_supervisor.get(detail_url(operation), {"outcome": "bogus"}))) == 50
    skipped = rows(as_supervisor.get(detail_url(operation), {"outcome": "skipped"}))
    assert [r[2] for r in skipped] == ["Already Sent"] * 2

    # Finished with failures: Retry is offered, Cancel is not.
    assert reverse("bulkops:operation-retry", args=[operation.pk]) in body
    assert reverse("bulkops:operation-cancel", args=[operation.pk]) not in body
    assert f"{reverse('bulkops:operation-items-csv', args=[operation.pk])}?" in body


def test_detail_of_a_running_operation_offers_cancel(as_supervisor, supervisor):
    operation = BulkOperationFactory(created_by=supervisor, status=Status.RUNNING)
    body = as_supervisor.get(detail_url(operation)).content.decode()
    assert reverse("bulkops:operation-cancel", args=[operation.pk]) in body
    assert reverse("bulkops:operation-retry", args=[operation.pk]) not in body
    assert 'hx-trigger="every 1s"' in body


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_outcomes_download_as_csv(as_supervisor, finished):
    operation, accounts = finished
    url = reverse("bulkops:operation-items-csv", args=[operation.pk])
    response = as_supervisor.get(url)
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="bulk-operation-{operation.pk}.csv"'
    )
    table = read_csv(response)
    assert table[0] == ["File Number", "Outcome", "Reason", "Processed At"]
    assert len(table) == 56
    assert table[1] == [accounts[0].file_number, "done", "", "2025-06-01T09:30:00+00:00"]
    assert table[-1] == [accounts[-1].file_number, "failed", "RuntimeError: boom", table[-1][3]]

    failed = read_csv(as_supervisor.get(url, {"outcome": "failed"}))
    assert [row[:3] for row in failed[1:]] == [
        [a.file_number, "failed", "RuntimeError: boom"] for a in accounts[52:]
    ]


def test_csv_of_pending_items_has_an_empty_processed_at(as_supervisor, supervisor, company):
    operation = BulkOperationFactory(created_by=supervisor, status=Status.QUEUED)
    (account,) = create_accounts(1, company=company)
    BulkOperationItemFactory(operation=operation, account=account, outcome=Outcome.PENDING)
    table = read_csv(as_supervisor.get(reverse("bulkops:operation-items-csv", args=[operation.pk])))
    assert table[1] == [account.file_number, "pending", "", ""]


# --- cancel and retry ---------------------------------------------------------------------------


def test_cancel_and_retry_are_post_only(as_supervisor, supervisor):
    operation = BulkOperationFactory(created_by=supervisor, status=Status.RUNNING)
    for name in ("bulkops:operation-cancel", "bulkops:operation-retry"):
        assert as_supervisor.get(reverse(name, args=[operation.pk])).status_code == 405
    operation.refresh_from_db()
    assert not operation.cancel_requested


def test_cancel_a_running_operation(
    as_supervisor, supervisor, accounts, enqueued, django_capture_on_commit_callbacks
):
    select_ids(as_supervisor, accounts)
    confirm(as_supervisor, open_dialog(as_supervisor), stage="sent")
    operation = BulkOperation.objects.get()
    url = reverse("bulkops:operation-cancel", args=[operation.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = as_supervisor.post(url, follow=True)
    assert response.redirect_chain == [(detail_url(operation), 302)]
    assert "Cancelling: the worker stops before its next chunk." in response.content.decode()
    assert enqueued == [operation.pk]
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    assert operation.status == Status.CANCELLED
    assert set(Account.objects.values_list("stage", flat=True)) == {"not_set"}

    response = as_supervisor.post(url, follow=True)
    assert "This operation has already finished." in response.content.decode()


def test_retry_failed_accounts(
    as_supervisor, finished, enqueued, django_capture_on_commit_callbacks
):
    operation, accounts = finished
    url = reverse("bulkops:operation-retry", args=[operation.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = as_supervisor.post(url, follow=True)
    assert response.redirect_chain == [(detail_url(operation), 302)]
    assert "Retrying 3 failed account(s)." in response.content.decode()
    assert enqueued == [operation.pk]
    operation.refresh_from_db()
    assert (operation.status, operation.processed, operation.failed) == (Status.QUEUED, 52, 0)

    # Now it is queued: retrying again is refused with the reason.
    response = as_supervisor.post(url, follow=True)
    assert "Wait for the operation to finish before retrying." in response.content.decode()
    services.run_operation(operation.pk)
    response = as_supervisor.post(url, follow=True)
    assert "No accounts failed; there is nothing to retry." in response.content.decode()


def test_a_collector_may_not_cancel_or_retry(client, collector, supervisor):
    operation = BulkOperationFactory(created_by=supervisor, status=Status.RUNNING)
    client.force_login(collector)
    # Collectors see operations (issue 13); the service refuses them Cancel,
    # the view Retry.
    response = client.post(reverse("bulkops:operation-cancel", args=[operation.pk]), follow=True)
    assert "You may not cancel this operation." in response.content.decode()
    assert client.post(reverse("bulkops:operation-retry", args=[operation.pk])).status_code == 403
    operation.refresh_from_db()
    assert not operation.cancel_requested


# --- company isolation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("bulkops:operation-detail", "get"),
        ("bulkops:operation-progress", "get"),
        ("bulkops:operation-items-csv", "get"),
        ("bulkops:operation-cancel", "post"),
        ("bulkops:operation-retry", "post"),
    ],
)
def test_another_companys_operation_is_404(as_supervisor, outsider, theirs, name, method):
    operation = BulkOperationFactory(
        created_by=outsider, status=Status.RUNNING, failed=1, processed=1, total=3
    )
    BulkOperationItemFactory(
        operation=operation, target_id=theirs[0].pk, outcome=Outcome.FAILED, reason="x"
    )
    response = getattr(as_supervisor, method)(reverse(name, args=[operation.pk]))
    assert response.status_code == 404
    operation.refresh_from_db()
    assert not operation.cancel_requested and operation.status == Status.RUNNING
    assert operation.items.get().outcome == Outcome.FAILED


def test_the_list_shows_only_the_companys_operations(client, outsider, supervisor):
    mine = BulkOperationFactory(created_by=supervisor)
    theirs = BulkOperationFactory(created_by=outsider)
    client.force_login(outsider)
    assert listed(client.get(reverse("bulkops:operation-list"))) == [theirs.pk]
    assert client.get(detail_url(theirs)).status_code == 200
    assert client.get(detail_url(mine)).status_code == 404


# --- the audit log ------------------------------------------------------------------------------


def audited(response) -> list[int]:
    assert response.status_code == 200
    return [event.pk for event in response.context["page"]]


@pytest.fixture
def events(supervisor, company, outsider, other_company):
    """Audit events of both companies at known times."""
    colleague = UserFactory(company=company, role=SUPERVISOR)
    ours = create_accounts(2, company=company)
    (foreign,) = create_accounts(1, company=other_company)
    operation = BulkOperationFactory(created_by=supervisor)
    foreign_operation = BulkOperationFactory(created_by=outsider)

    def event(day, actor, action, account, bulk_operation=None):
        record = services.record_audit_event(
            actor=actor,
            action=action,
            obj=account,
            changes={"stage": ["not_set", "sent"]},
            bulk_operation=bulk_operation,
        )
        AuditEvent.objects.filter(pk=record.pk).update(
            occurred_at=dt.datetime(2025, 6, day, 12, tzinfo=dt.UTC)
        )
        return record

    return {
        "stage_op": event(1, supervisor, "account.stage_updated", ours[0], operation),
        "status_op": event(5, supervisor, "account.status_changed", ours[1], operation),
        "by_colleague": event(9, colleague, "account.flags_changed", ours[0]),
        "payment": event(12, colleague, "payment.credited", ours[1]),
        "foreign": event(5, outsider, "account.stage_updated", foreign, foreign_operation),
        "ours": ours,
        "colleague": colleague,
        "operation": operation,
        "foreign_operation": foreign_operation,
        "foreign_account": foreign,
    }


def test_the_audit_log_filters(as_supervisor, supervisor, events):
    url = reverse("bulkops:audit-log")
    stage_op, status_op = events["stage_op"].pk, events["status_op"].pk
    by_colleague, payment = events["by_colleague"].pk, events["payment"].pk

    assert audited(as_supervisor.get(url)) == [payment, by_colleague, status_op, stage_op]
    assert audited(as_supervisor.get(url, {"action": "account."})) == [
        by_colleague,
        status_op,
        stage_op,
    ]
    assert audited(as_supervisor.get(url, {"action": "Account.Status"})) == [status_op]
    assert audited(as_supervisor.get(url, {"actor": supervisor.pk})) == [status_op, stage_op]
    assert audited(as_supervisor.get(url, {"actor": events["colleague"].pk})) == [
        payment,
        by_colleague,
    ]
    assert audited(as_supervisor.get(url, {"bulk_operation": events["operation"].pk})) == [
        status_op,
        stage_op,
    ]
    file_number = events["ours"][0].file_number
    assert audited(as_supervisor.get(url, {"file_number": f" {file_number.lower()} "})) == [
        by_colleague,
        stage_op,
    ]
    assert audited(as_supervisor.get(url, {"file_number": "F0000000"})) == []
    assert audited(as_supervisor.get(url, {"occurred_after": "2025-06-05"})) == [
        payment,
        by_colleague,
        status_op,
    ]
    assert audited(
        as_supervisor.get(url, {"occurred_after": "2025-06-02", "occurred_before": "2025-06-09"})
    ) == [by_colleague, status_op]

    body = as_supervisor.get(url, {"bulk_operation": events["operation"].pk}).content.decode()
    assert "account.status_changed" in body
    assert f'href="{detail_url(events["operation"])}"' in body
    assert "not_set → sent" in body


def test_the_audit_log_is_scoped_to_the_company(as_supervisor, events, outsider, client):
    url = reverse("bulkops:audit-log")
    foreign = events["foreign"].pk
    assert foreign not in audited(as_supervisor.get(url))
    assert audited(as_supervisor.get(url, {"bulk_operation": events["foreign_operation"].pk})) == []
    foreign_file = events["foreign_account"].file_number
    assert audited(as_supervisor.get(url, {"file_number": foreign_file})) == []

    client.force_login(outsider)
    assert audited(client.get(url)) == [foreign]


def test_an_operations_audit_trail_end_to_end(as_supervisor, supervisor, accounts):
    """Confirm in the dialog, run, then find every change in the audit log."""
    select_ids(as_supervisor, accounts[:3])
    confirm(as_supervisor, open_dialog(as_supervisor), stage="sent")
    operation = BulkOperation.objects.get()
    services.run_operation(operation.pk)
    response = as_supervisor.get(
        reverse("bulkops:audit-log"),
        {"bulk_operation": operation.pk, "action": "account.stage_updated"},
    )
    events = list(response.context["page"])
    assert sorted(e.object_id for e in events) == sorted(a.pk for a in accounts[:3])
    assert {(e.actor_id, e.bulk_operation_id) for e in events} == {(supervisor.pk, operation.pk)}
    assert all(e.changes == {"stage": ["not_set", "sent"]} for e in events)


def test_progress_refreshes_the_page_once_when_the_operation_has_finished(client, supervisor):
    """The outcomes table and the Cancel button were rendered while the
    operation ran; when the polled bar turns final the page reloads."""
    from tests.factories import BulkOperationFactory

    operation = BulkOperationFactory(
        created_by=supervisor, company=supervisor.company, status="succeeded", total=1, processed=1
    )
    client.force_login(supervisor)
    url = reverse("bulkops:operation-progress", args=[operation.pk])
    polled = client.get(url, HTTP_HX_REQUEST="true")
    assert polled.status_code == 286 and polled["HX-Refresh"] == "true"
    plain = client.get(url)
    assert plain.status_code == 286 and "HX-Refresh" not in plain


def test_the_audit_log_names_statuses_and_collectors(client, supervisor):
    """Foreign keys in an audit event read as names, not ids."""
    from accounts.models import AccountStatus
    from bulkops.models import AuditEvent

    old = AccountStatus.objects.create(name="Payment Plan", category="active")
    new = AccountStatus.objects.create(name="Legal Review", category="default")
    collector = UserFactory(
        company=supervisor.company, role="Collector", first_name="Cara", last_name="Lind"
    )
    account = create_accounts(1, company=supervisor.company)[0]
    AuditEvent.objects.create(
        actor=supervisor,
        company=supervisor.company,
        action="account.status_changed",
        object_type="accounts.account",
        object_id=account.pk,
        changes={"status": [old.pk, new.pk], "assigned_to": [None, collector.pk]},
    )
    client.force_login(supervisor)
    page = client.get(reverse("bulkops:audit-log")).content.decode()
    assert "Payment Plan → Legal Review" in page
    assert "— → Cara Lind" in page
    account_page = client.get(reverse("accounts:detail", args=[account.pk])).content.decode()
    assert "Payment Plan → Legal Review" in account_page


def test_progress_says_the_file_is_being_assembled_once_every_account_is_processed(
    client, supervisor
):
    from tests.factories import BulkOperationFactory

    operation = BulkOperationFactory(
        created_by=supervisor,
        company=supervisor.company,
        kind="export",
        status="running",
        total=4,
        processed=4,
        started_at=timezone.now(),
    )
    client.force_login(supervisor)
    url = reverse("bulkops:operation-progress", args=[operation.pk])
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "assembling the file" in body and "s left" not in body
    assert 'hx-trigger="every 1s"' in body


# --- hostile JSON in the Assign To list ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[" * 100_000, "Add at least one collector (or Unassign) with the plus button."),
        ("[" * 60_000 + "]" * 60_000, "The assignment list could not be read."),
        ('{"a":' * 50_000, "The assignment list could not be read."),
        ('{"a":' * 15_000, "Add at least one collector (or Unassign) with the plus button."),
        (
            "[" * 5_000 + "]" * 5_000,
            "Add at least one collector (or Unassign) with the plus button.",
        ),
        ('[{"collector": "unassign", "count": ' + "9" * 5_000 + "}]", None),
        ('[{"collector": "unassign", "count": "' + "9" * 5_000 + '"}]', None),
        ('[{"collector": "unassign", "count": "' + "9" * 4_000 + '"}]', None),
        ('[{"collector": "unassign", "count": ' + "9" * 4_000 + "}]", None),
        ('[{"collector": "unassign", "count": "²"}]', None),
        ('[{"collector": "unassign", "count": 1e400}]', None),
        ('[{"collector": [[[[]]]], "count": 1}]', None),
        ("[" + ",".join(['{"collector": "unassign", "count": 1}'] * 3_000) + "]", None),
    ],
    ids=lambda v: v[:20] if isinstance(v, str) else v,
)
def test_hostile_assignment_lists_get_422_with_a_message(as_supervisor, accounts, raw, message):
    select_ids(as_supervisor, accounts)
    content = open_dialog(as_supervisor, "assign")
    response = confirm(as_supervisor, content, "assign", assignments=raw, credit_payments="off")
    assert response.status_code == 422
    body = response.content.decode()
    assert 'class="text-danger' in body or "alert-danger" in body
    if message:
        assert message in body
    assert not BulkOperation.objects.exists()
