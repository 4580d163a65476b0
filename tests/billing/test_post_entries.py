"""billing.services.post_ledger_entries: many journal lines posted at once
move every account's and claim's balance by exactly their sum, in a fixed
number of statements however many lines there are, reconcile with the
ledger, and refuse a bad batch whole."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from billing.models import Claim, LedgerEntry
from billing.selectors import find_balance_discrepancies
from billing.services import NewEntry, post_ledger_entries, post_ledger_entry
from bulkops.models import AuditEvent
from tests.factories import AccountFactory, ClaimFactory, UserFactory

pytestmark = pytest.mark.django_db

Kind = LedgerEntry.Kind


def charged(amount="100.00"):
    account = AccountFactory()
    claim = ClaimFactory(account=account, original_amount=Decimal(amount))
    post_ledger_entry(account=account, kind=Kind.CHARGE, amount=amount, claim=claim)
    return account, claim


def balances(accounts, claims):
    return (
        {a.pk: Account.objects.get(pk=a.pk).current_balance for a in accounts},
        {c.pk: Claim.objects.get(pk=c.pk).balance for c in claims},
    )


def test_a_batch_moves_each_balance_by_its_sum_and_reconciles():
    (a, a_claim), (b, b_claim) = charged("100.00"), charged("40.10")
    actor = UserFactory(company=a.company)
    entries = [
        NewEntry(a.pk, Kind.FEE, Decimal("12.345"), claim_id=a_claim.pk, description="Late fee"),
        NewEntry(a.pk, Kind.FEE, Decimal("0.10")),
        NewEntry(b.pk, Kind.WRITE_OFF, Decimal("-40.10"), claim_id=b_claim.pk),
    ]

    created = post_ledger_entries(entries=entries, actor=actor)

    assert [e.amount for e in created] == [Decimal("12.35"), Decimal("0.10"), Decimal("-40.10")]
    assert all(e.context == LedgerEntry.Context.BULK and e.created_by == actor for e in created)
    assert balances([a, b], [a_claim, b_claim]) == (
        {a.pk: Decimal("112.45"), b.pk: Decimal("0.00")},
        {a_claim.pk: Decimal("112.35"), b_claim.pk: Decimal("0.00")},
    )
    assert find_balance_discrepancies() == []
    events = {
        e.object_id: (e.action, e.changes)
        for e in AuditEvent.objects.filter(action__in=["ledger.fee", "ledger.write_off"])
    }
    assert events == {
        a.pk: ("ledger.fee", {"current_balance": ["100.00", "112.45"]}),
        b.pk: ("ledger.write_off", {"current_balance": ["40.10", "0.00"]}),
    }


def test_mixed_kinds_on_one_account_are_one_event():
    account, _ = charged("50.00")
    post_ledger_entries(
        entries=[
            NewEntry(account.pk, Kind.FEE, Decimal("5.00")),
            NewEntry(account.pk, Kind.CREDIT, Decimal("-20.00")),
        ]
    )
    [event] = AuditEvent.objects.filter(action="ledger.entries")
    assert event.changes == {"current_balance": ["50.00", "35.00"]}
    assert find_balance_discrepancies() == []


def statements(count):
    pairs = [charged("10.00") for _ in range(count)]
    entries = [NewEntry(a.pk, Kind.FEE, Decimal("1.00"), claim_id=c.pk) for a, c in pairs]
    with CaptureQueriesContext(connection) as queries:
        post_ledger_entries(entries=entries)
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_the_statements_do_not_grow_with_the_batch():
    few, many = statements(3), statements(60)
    assert len(few) == len(many)
    # Lock accounts, lock claims, insert entries, two balance updates, the
    # audit's company lookup and its insert.
    assert len(many) == 7
    assert sum(sql.startswith("INSERT") for sql in many) == 2
    assert find_balance_discrepancies() == []


@pytest.mark.parametrize(
    ("kind", "amount", "message"),
    [
        (Kind.FEE, Decimal("-1.00"), "must increase the balance"),
        (Kind.WRITE_OFF, Decimal("1.00"), "must decrease the balance"),
        (Kind.CREDIT, Decimal("0.004"), "non-zero amount"),
    ],
)
def test_one_bad_line_refuses_the_batch_and_changes_nothing(kind, amount, message):
    (a, a_claim), (b, b_claim) = charged("10.00"), charged("20.00")
    before = balances([a, b], [a_claim, b_claim])
    entries_before, events_before = LedgerEntry.objects.count(), AuditEvent.objects.count()

    with pytest.raises(ValidationError, match=f"Account {b.pk}: .*{message}"):
        post_ledger_entries(
            entries=[NewEntry(a.pk, Kind.FEE, Decimal("1.00")), NewEntry(b.pk, kind, amount)]
        )

    assert balances([a, b], [a_claim, b_claim]) == before
    assert (LedgerEntry.objects.count(), AuditEvent.objects.count()) == (
        entries_before,
        events_before,
    )


def test_a_claim_of_another_account_refuses_the_batch():
    (a, _), (b, b_claim) = charged("10.00"), charged("20.00")
    count = LedgerEntry.objects.count()
    with pytest.raises(ValidationError, match="the claim belongs to another account"):
        post_ledger_entries(entries=[NewEntry(a.pk, Kind.FEE, Decimal("1.00"), b_claim.pk)])
    assert LedgerEntry.objects.count() == count
    assert balances([a, b], [b_claim])[0] == {a.pk: Decimal("10.00"), b.pk: Decimal("20.00")}


def test_floats_are_refused():
    account, _ = charged()
    with pytest.raises(TypeError):
        post_ledger_entries(entries=[NewEntry(account.pk, Kind.FEE, 1.5)])


def test_nothing_to_post_touches_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert post_ledger_entries(entries=[]) == []
    assert queries.captured_queries == []
