"""The Diary: every app's events on the account in one timeline, newest
first and grouped by day, filtered by date, event, user and claim; a page
is a fixed number of queries however many events there are."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services, work
from accounts.diary import DiaryFilters, diary_page
from accounts.models import DelinquencyReason, Interaction, InteractionOutcome, Note, WorkQueue
from accounts.roles import COLLECTOR
from billing import promises
from billing import services as billing
from communications.models import Message
from tests.factories import (
    AccountFactory,
    AccountStatusFactory,
    ClaimFactory,
    DebtorPhoneFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(company):
    account = AccountFactory(company=company)
    DebtorPhoneFactory(debtor=account.debtor, number="+15555550123")
    return account


@pytest.fixture
def claims(account):
    first = ClaimFactory(account=account, reference="INV-1")
    second = ClaimFactory(account=account, reference="INV-2")
    for claim in (first, second):
        billing.post_ledger_entry(account=account, kind="charge", amount=Decimal(50), claim=claim)
    return first, second


@pytest.fixture
def busy(account, claims, collector, supervisor, company):
    """One event of every kind, by two users."""
    queue = WorkQueue.objects.create(company=company, name="Q1")
    work.add_note(actor=collector, account=account, note_type=None, body="First call")
    work.add_interaction(
        actor=collector,
        account=account,
        method=Interaction.Method.PHONE,
        outcome=InteractionOutcome.objects.get(name="No answer"),
        direction=Interaction.Direction.OUTBOUND,
        delinquency_reason=DelinquencyReason.objects.get(name="Other"),
    )
    task = work.create_task(
        actor=collector, account=account, queue=queue, due_date=timezone.localdate()
    )
    work.resolve_task(actor=supervisor, task=task, note="Done")
    promises.create_promise(
        actor=collector,
        account=account,
        claim=claims[0],
        amount="20",
        due_date=timezone.localdate(),
    )
    services.change_status(
        actor=supervisor,
        account_ids=[account.pk],
        status=AccountStatusFactory(name="Promise", company=company),
    )
    Message.objects.create(
        company=account.company,
        account=account,
        channel="sms",
        to="+15555550123",
        text="Please call us. Reply STOP to opt out.",
        created_by=supervisor,
    )
    return account


def events_of(user, account, **filters):
    page = diary_page(user, account, DiaryFilters(**filters), 1)
    return [e for day in page["days"] for e in day.events]


def test_every_kind_of_event_in_one_timeline_newest_first(busy, supervisor):
    events = events_of(supervisor, busy)
    keys = [e["key"] for e in events]
    for key in ("note", "interaction", "task", "task_resolved", "promise", "status", "message"):
        assert key in keys
    assert keys.count("ledger") == 2  # the two charges
    times = [e["at"] for e in events]
    assert times == sorted(times, reverse=True)


def test_a_message_s_number_is_masked_for_a_collector(busy, collector):
    message = next(e for e in events_of(collector, busy) if e["key"] == "message")
    assert "0123" in message["entry"].title and "+15555550123" not in message["entry"].title


def test_filters_by_event_user_claim_and_date(busy, collector, supervisor, claims):
    notes = events_of(supervisor, busy, events=["note"])
    assert [e["entry"].detail for e in notes] == ["First call"]
    by_supervisor = events_of(supervisor, busy, users=[supervisor.pk])
    assert {e["key"] for e in by_supervisor} == {"task_resolved", "status", "message"}
    on_first_claim = events_of(supervisor, busy, claims=[claims[0].pk])
    assert {e["key"] for e in on_first_claim} == {"ledger", "promise"}
    assert all("INV-1" in e["entry"].link_text for e in on_first_claim)
    tomorrow = timezone.localdate() + dt.timedelta(days=2)
    assert events_of(supervisor, busy, date_from=tomorrow, date_to=tomorrow) == []


def test_the_page_groups_by_day_and_keeps_unknown_filter_values_out(
    client, busy, supervisor, other_company
):
    stranger = UserFactory(company=other_company, role=COLLECTOR)
    client.force_login(supervisor)
    url = reverse("accounts:detail", args=[busy.pk])
    response = client.get(url, {"tab": "diary", "event": ["note", "bogus"], "user": stranger.pk})
    html = response.content.decode()
    assert "Unknown event left out" in html and "Unknown user left out" in html
    assert html.count('class="d-flex gap-3 py-1 small diary-event"') == 1  # the note only
    assert timezone.localdate().strftime("%Y") in html


def test_another_company_s_diary_is_not_shown(client, busy, other_company):
    stranger = UserFactory(company=other_company, role=COLLECTOR)
    client.force_login(stranger)
    url = reverse("accounts:detail", args=[busy.pk])
    assert client.get(url, {"tab": "diary"}).status_code == 404


def _diary_queries(client, user, account) -> int:
    client.force_login(user)
    url = reverse("accounts:detail", args=[account.pk])
    client.get(url, {"tab": "diary"})  # warm: sessions, content types
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, {"tab": "diary"}).status_code == 200
    return len(queries)


def test_the_diary_tab_takes_the_same_queries_for_few_or_many_events(
    client, busy, supervisor, claims
):
    few = _diary_queries(client, supervisor, busy)
    # 300 more events, older than the first page's (which keeps its kinds).
    long_ago = timezone.now() - dt.timedelta(days=400)
    Note.objects.bulk_create(
        Note(account=busy, body=f"Note {n}", author=supervisor, created_at=long_ago)
        for n in range(300)
    )
    many = _diary_queries(client, supervisor, busy)
    assert few == many == 20


@pytest.mark.parametrize("tab", ["journal", "files"])
def test_the_other_tabs_take_the_same_queries_for_few_or_many_entries(
    client, busy, supervisor, claims, tab
):
    client.force_login(supervisor)
    url = reverse("accounts:detail", args=[busy.pk])

    def count() -> int:
        client.get(url, {"tab": tab})
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, {"tab": tab}).status_code == 200
        return len(queries)

    few = count()
    for _ in range(60):
        billing.post_ledger_entry(account=busy, kind="charge", amount=Decimal(1), claim=claims[1])
    assert few == count()
