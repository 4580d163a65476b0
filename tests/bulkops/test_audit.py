"""bulkops.services: the audit service (one event, many events in batches,
and one INSERT ... SELECT per field change)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import accounts_visible_to
from bulkops.models import AuditEvent, BulkOperation
from bulkops.services import audit as audit_service
from bulkops.services import record_audit_event, record_audit_events, record_field_change
from tests.factories import AccountFactory, AccountStatusFactory, PortfolioFactory

pytestmark = pytest.mark.django_db

AUDIT_TABLE = AuditEvent._meta.db_table


def audit_inserts(captured):
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith("INSERT") and AUDIT_TABLE in q["sql"]
    ]


@pytest.fixture
def operation(company, supervisor):
    return BulkOperation.objects.create(
        kind="change_status", company=company, created_by=supervisor, confirmed_count=3
    )


# --- record_audit_event -----------------------------------------------------------


def test_record_audit_event_stores_who_what_and_json_safe_changes(supervisor, operation):
    account = AccountFactory()
    status = account.status

    event = record_audit_event(
        actor=supervisor,
        action="account.updated",
        obj=account,
        changes={
            "current_balance": (Decimal("1.50"), Decimal("2.00")),
            "default_date": (None, dt.date(2025, 7, 4)),
            "last_worked_at": (None, dt.datetime(2025, 7, 4, 13, 5, tzinfo=dt.UTC)),
            "status": (None, status),
            "stage": ("not_set", "sent"),
        },
        bulk_operation=operation,
    )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor == supervisor
    assert stored.action == "account.updated"
    assert (stored.object_type, stored.object_id) == ("accounts.account", account.pk)
    assert stored.bulk_operation == operation
    assert stored.changes == {
        "current_balance": ["1.50", "2.00"],
        "default_date": [None, "2025-07-04"],
        "last_worked_at": [None, "2025-07-04T13:05:00+00:00"],
        "status": [None, status.pk],
        "stage": ["not_set", "sent"],
    }
    assert list(operation.audit_events.all()) == [stored]


@pytest.mark.parametrize("actor", [None, AnonymousUser()])
def test_record_audit_event_without_an_authenticated_actor(actor):
    account = AccountFactory()
    event = record_audit_event(
        actor=actor, action="system.touch", obj=account, changes={"stage": ("a", "b")}
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor_id is None
    assert stored.bulk_operation_id is None
    assert stored.changes == {"stage": ["a", "b"]}


# --- record_audit_events --------------------------------------------------------


def test_record_audit_events_writes_in_batches(monkeypatch, supervisor, operation):
    monkeypatch.setattr(audit_service, "AUDIT_BATCH_SIZE", 3)
    when = dt.datetime(2025, 8, 1, 10, 0, tzinfo=dt.UTC)
    # A generator: the service must not need a list.
    changes = ((1000 + i, {"stage": ("not_set", "sent"), "n": (i, i + 1)}) for i in range(8))

    with CaptureQueriesContext(connection) as captured:
        written = record_audit_events(
            actor=supervisor,
            action="bulk.stage",
            model=Account,
            changes_by_id=changes,
            bulk_operation=operation,
            occurred_at=when,
        )

    assert written == 8
    assert len(audit_inserts(captured)) == 3  # 3 + 3 + 2
    events = list(AuditEvent.objects.order_by("object_id"))
    assert [e.object_id for e in events] == list(range(1000, 1008))
    assert [e.changes for e in events] == [
        {"stage": ["not_set", "sent"], "n": [i, i + 1]} for i in range(8)
    ]
    assert {(e.action, e.object_type, e.actor_id, e.bulk_operation_id) for e in events} == {
        ("bulk.stage", "accounts.account", supervisor.pk, operation.pk)
    }
    assert {e.occurred_at for e in events} == {when}


def test_record_audit_events_exact_multiple_of_the_batch_size(monkeypatch):
    monkeypatch.setattr(audit_service, "AUDIT_BATCH_SIZE", 4)
    with CaptureQueriesContext(connection) as captured:
        written = record_audit_events(
            actor=None,
            action="bulk.x",
            model=Account,
            changes_by_id=[(i, {"f": (Decimal("0.10"), Decimal("0.20"))}) for i in range(8)],
        )
    assert written == 8
    assert len(audit_inserts(captured)) == 2
    assert AuditEvent.objects.filter(actor=None, changes={"f": ["0.10", "0.20"]}).count() == 8


def test_record_audit_events_with_default_batch_size_is_one_insert(django_assert_num_queries):
    assert audit_service.AUDIT_BATCH_SIZE == 5000
    # One INSERT, after one SELECT of the rows' companies (the events' company).
    with django_assert_num_queries(2) as captured:
        written = record_audit_events(
            actor=None,
            action="bulk.x",
            model=Account,
            changes_by_id=[(i, {"f": (1, 2)}) for i in range(20)],
        )
    assert written == 20
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["SELECT", "INSERT"]
    assert AuditEvent.objects.count() == 20


def test_record_audit_events_with_nothing_writes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert record_audit_events(actor=None, action="x", model=Account, changes_by_id=[]) == 0


# --- record_field_change ----------------------------------------------------------


@pytest.fixture
def statuses():
    return {
        "active": AccountStatusFactory(name="Active"),
        "hold": AccountStatusFactory(name="On hold"),
        "closed": AccountStatusFactory(name="Closed", category="closed"),
    }


def test_record_field_change_writes_one_event_per_row_in_one_insert(
    statuses, supervisor, operation, company
):
    active, hold, closed = statuses["active"], statuses["hold"], statuses["closed"]
    a1 = AccountFactory(status=active, company=company)
    a2 = AccountFactory(status=hold, company=company)
    a3 = AccountFactory(status=active, company=company)
    already = AccountFactory(status=closed, company=company)
    untouched = AccountFactory(status=active, company=company)
    queryset = Account.objects.filter(pk__in=[a1.pk, a2.pk, a3.pk, already.pk]).exclude(
        status=closed
    )
    start = timezone.now()

    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        written = record_field_change(
            actor=supervisor,
            action="bulk.change_status",
            queryset=queryset,
            field="status",
            new_value=closed,
            bulk_operation=operation,
        )
        updated = queryset.update(status=closed)

    assert written == 3
    assert updated == 3
    assert len(captured.captured_queries) == 2  # the INSERT ... SELECT and the UPDATE
    assert len(audit_inserts(captured)) == 1
    events = list(AuditEvent.objects.order_by("object_id"))
    assert [(e.object_id, e.changes) for e in events] == [
        (a1.pk, {"status": [active.pk, closed.pk]}),
        (a2.pk, {"status": [hold.pk, closed.pk]}),
        (a3.pk, {"status": [active.pk, closed.pk]}),
    ]
    for event in events:
        assert event.action == "bulk.change_status"
        assert event.object_type == "accounts.account"
        assert event.actor_id == supervisor.pk
        assert event.bulk_operation_id == operation.pk
        assert start <= event.occurred_at <= timezone.now()
        assert event.occurred_at.utcoffset() == dt.timedelta(0)
    assert Account.objects.get(pk=untouched.pk).status == active
    assert set(operation.audit_events.values_list("object_id", flat=True)) == {
        a1.pk,
        a2.pk,
        a3.pk,
    }


def test_record_field_change_events_sort_with_orm_written_events(statuses, supervisor):
    """Events written by the raw INSERT sort by time with the ORM's own."""
    account = AccountFactory(status=statuses["active"])
    first = record_audit_event(
        actor=supervisor, action="first", obj=account, changes={"stage": ("a", "b")}
    )
    record_field_change(
        actor=supervisor,
        action="second",
        queryset=Account.objects.filter(pk=account.pk),
        field="status",
        new_value=statuses["hold"],
    )
    third = record_audit_event(
        actor=supervisor, action="third", obj=account, changes={"stage": ("b", "c")}
    )
    assert first.occurred_at < third.occurred_at
    assert list(AuditEvent.objects.values_list("action", flat=True)) == [
        "third",
        "second",
        "first",
    ]
    assert AuditEvent.objects.filter(occurred_at__gt=first.occurred_at).count() == 2
    assert AuditEvent.objects.filter(occurred_at__lt=third.occurred_at).count() == 2


def test_record_field_change_on_a_scoped_queryset(statuses, collector, company, other_company):
    ours = [AccountFactory(status=statuses["active"], company=company) for _ in range(2)]
    AccountFactory(status=statuses["active"], company=other_company)
    portfolio = PortfolioFactory()
    in_portfolio = AccountFactory(status=statuses["hold"], company=company, portfolio=portfolio)
    queryset = accounts_visible_to(collector).exclude(portfolio=portfolio)

    written = record_field_change(
        actor=collector,
        action="bulk.change_status",
        queryset=queryset,
        field="status",
        new_value=statuses["closed"].pk,
    )

    assert written == 2
    assert sorted(AuditEvent.objects.values_list("object_id", "changes")) == sorted(
        (a.pk, {"status": [statuses["active"].pk, statuses["closed"].pk]}) for a in ours
    )
    assert not AuditEvent.objects.filter(object_id=in_portfolio.pk).exists()


@pytest.mark.parametrize(
    ("field", "before", "new_value", "after"),
    [
        ("stage", "not_set", "sent", "sent"),
        ("assigned_to", None, "supervisor", "supervisor"),
        ("default_date", None, dt.date(2025, 9, 30), "2025-09-30"),
        ("declined_count", 0, 4, 4),
    ],
)
def test_record_field_change_of_other_fields(field, before, new_value, after, supervisor):
    account = AccountFactory()
    if new_value == "supervisor":
        new_value = after = supervisor.pk

    written = record_field_change(
        actor=None,
        action=f"bulk.{field}",
        queryset=Account.objects.filter(pk=account.pk),
        field=field,
        new_value=new_value,
    )

    assert written == 1
    event = AuditEvent.objects.get()
    assert event.changes == {field: [before, after]}
    assert (event.actor_id, event.bulk_operation_id) == (None, None)


def test_record_field_change_on_an_empty_queryset_writes_nothing(statuses):
    written = record_field_change(
        actor=None,
        action="bulk.change_status",
        queryset=Account.objects.filter(pk=-1),
        field="status",
        new_value=statuses["closed"],
    )
    assert written == 0
    assert AuditEvent.objects.count() == 0


def test_record_field_change_on_an_empty_id_list_writes_nothing(statuses):
    """``pk__in=[]`` cannot even be compiled to SQL (EmptyResultSet): a chunk
    with nothing to change must not fail because of it."""
    written = record_field_change(
        actor=None,
        action="bulk.change_status",
        queryset=Account.objects.filter(pk__in=[]),
        field="status",
        new_value=statuses["closed"],
    )
    assert written == 0
    assert AuditEvent.objects.count() == 0
