"""billing.selectors.find_balance_discrepancies and ``manage.py check_balances``:
silent after service calls, loud (exit 1) on a planted inconsistency."""

import datetime as dt
import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Account
from billing.models import Claim, LedgerEntry
from billing.selectors import (
    BalanceDiscrepancy,
    find_balance_discrepancies,
    find_claim_discrepancies,
)
from billing.services import decline_payment, post_ledger_entry, post_payment, record_payment
from tests.factories import AccountFactory, ClaimFactory

pytestmark = pytest.mark.django_db

Kind = LedgerEntry.Kind
SUCCESS = "All balances reconcile with the ledger."


def run_check(*args):
    out, err = StringIO(), StringIO()
    call_command("check_balances", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def assert_lines(out, expected):
    """``out`` is ``expected`` line by line. Each line ends with "ledger says
    <value>"; SQLite returns that value unquantised (``20`` or
    ``174.450000000000`` for ``20.00`` or ``174.45``), so a money value is
    compared as a Decimal, anything else as text."""
    lines = out.splitlines()
    assert len(lines) == len(expected), lines
    for line, want in zip(lines, expected, strict=True):
        head, _, value = line.rpartition(" ledger says ")
        want_head, _, want_value = want.rpartition(" ledger says ")
        assert head == want_head, (line, want)
        if re.fullmatch(r"-?\d+\.\d\d", want_value):
            assert re.fullmatch(r"-?\d+(\.\d+)?", value), (line, want)
            assert Decimal(value) == Decimal(want_value), (line, want)
        else:
            assert value == want_value, (line, want)


def run_failing_check(*args):
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exc_info:
        call_command("check_balances", *args, stdout=out, stderr=err)
    assert exc_info.value.code == 1
    return out.getvalue(), err.getvalue()


@pytest.fixture
def ledger():
    """Accounts brought to a known state through the services only."""
    busy = AccountFactory(file_number="F-BUSY")
    claim = ClaimFactory(account=busy, reference="INV-1")
    post_ledger_entry(account=busy, kind=Kind.CHARGE, amount="250.10", claim=claim)
    post_ledger_entry(account=busy, kind=Kind.FEE, amount="0.20")
    post_ledger_entry(account=busy, kind=Kind.CREDIT, amount="-0.30")
    early = record_payment(
        account=busy,
        amount="50.00",
        claim=claim,
        received_at=dt.datetime(2025, 2, 1, 9, tzinfo=dt.UTC),
    )
    late = record_payment(
        account=busy, amount="25.55", received_at=dt.datetime(2025, 2, 20, 9, tzinfo=dt.UTC)
    )
    declined = record_payment(account=busy, amount="10.00")
    post_payment(payment=late)
    post_payment(payment=early)
    decline_payment(payment=declined, reason="Insufficient funds")

    # Whole amounts only: exact even where SQLite computes balances in floating
    # point, so the SQL pre-filter of the selector is exercised on its own.
    whole = AccountFactory(file_number="F-WHOLE")
    post_ledger_entry(account=whole, kind=Kind.CHARGE, amount="100.00")
    for amount, day in (("30.00", 1), ("20.00", 15)):
        post_payment(
            payment=record_payment(
                account=whole,
                amount=amount,
                received_at=dt.datetime(2025, 3, day, 12, tzinfo=dt.UTC),
            )
        )
    decline_payment(payment=record_payment(account=whole, amount="20.00"), reason="Stopped")

    idle = AccountFactory(file_number="F-IDLE")  # never touched: all zero / empty
    charged = AccountFactory(file_number="F-CHARGED")
    post_ledger_entry(account=charged, kind=Kind.CHARGE, amount="99.99")
    return {"busy": busy, "whole": whole, "idle": idle, "charged": charged, "claim": claim}


def test_service_calls_leave_nothing_to_report(ledger):
    busy = Account.objects.get(pk=ledger["busy"].pk)
    assert busy.current_balance == Decimal("174.45")
    assert busy.last_payment_amount == Decimal("25.55")
    assert busy.last_payment_date == dt.date(2025, 2, 20)
    assert busy.declined_count == 1
    assert Claim.objects.get(pk=ledger["claim"].pk).balance == Decimal("200.10")
    whole = Account.objects.get(pk=ledger["whole"].pk)
    assert (
        whole.current_balance,
        whole.last_payment_amount,
        whole.last_payment_date,
        whole.declined_count,
    ) == (Decimal("50.00"), Decimal("20.00"), dt.date(2025, 3, 15), 1)

    assert find_balance_discrepancies() == []
    assert list(find_claim_discrepancies()) == []
    out, err = run_check()
    assert out.strip() == SUCCESS
    assert err == ""


def test_planted_balance_is_reported_with_file_number_and_field(ledger):
    busy = ledger["busy"]
    Account.objects.filter(pk=busy.pk).update(current_balance=Decimal("999.00"))

    assert find_balance_discrepancies() == [
        BalanceDiscrepancy(
            busy.pk, "F-BUSY", "current_balance", Decimal("999.00"), Decimal("174.45")
        )
    ]
    out, err = run_failing_check()
    assert_lines(
        out,
        [f"account F-BUSY (id {busy.pk}): current_balance is 999.00, ledger says 174.45"],
    )
    assert "1 account field(s) and 0 claim(s) do not reconcile." in err
    assert SUCCESS not in out


def test_balance_off_by_one_cent_is_reported(ledger):
    Account.objects.filter(pk=ledger["charged"].pk).update(current_balance=Decimal("99.98"))

    problems = find_balance_discrepancies()

    assert [(p.file_number, p.field, p.stored, p.derived) for p in problems] == [
        ("F-CHARGED", "current_balance", Decimal("99.98"), Decimal("99.99"))
    ]
    out, _ = run_failing_check()
    assert "account F-CHARGED" in out and "current_balance" in out


def test_planted_balance_on_an_account_without_ledger_is_reported(ledger):
    Account.objects.filter(pk=ledger["idle"].pk).update(current_balance=Decimal("5.00"))

    problems = find_balance_discrepancies()

    assert [(p.file_number, p.field, p.stored, p.derived) for p in problems] == [
        ("F-IDLE", "current_balance", Decimal("5.00"), Decimal("0.00"))
    ]


PLANTED = {
    # account: (field, planted value, value the ledger gives, as printed)
    "busy": {
        "declined_count": (3, 1, "1"),
        "last_payment_amount": (Decimal("50.00"), Decimal("25.55"), "25.55"),
        "last_payment_date": (dt.date(2025, 2, 1), dt.date(2025, 2, 20), "2025-02-20"),
    },
    "whole": {
        "declined_count": (0, 1, "1"),
        "last_payment_amount": (Decimal("30.00"), Decimal("20.00"), "20.00"),
        "last_payment_date": (dt.date(2025, 3, 1), dt.date(2025, 3, 15), "2025-03-15"),
    },
}


@pytest.mark.parametrize("name", ["busy", "whole"])
@pytest.mark.parametrize("field", ["declined_count", "last_payment_amount", "last_payment_date"])
def test_planted_derived_field_is_reported(ledger, name, field):
    account = ledger[name]
    planted, derived, printed = PLANTED[name][field]
    Account.objects.filter(pk=account.pk).update(**{field: planted})

    assert [
        (p.account_id, p.file_number, p.field, p.stored, p.derived)
        for p in find_balance_discrepancies()
    ] == [(account.pk, account.file_number, field, planted, derived)]
    out, err = run_failing_check()
    assert_lines(
        out,
        [
            f"account {account.file_number} (id {account.pk}): {field} is {planted}, "
            f"ledger says {printed}"
        ],
    )
    assert "1 account field(s) and 0 claim(s) do not reconcile." in err


def test_missing_or_spurious_last_payment_is_reported(ledger):
    Account.objects.filter(pk=ledger["busy"].pk).update(
        last_payment_amount=None, last_payment_date=None
    )
    Account.objects.filter(pk=ledger["idle"].pk).update(
        last_payment_amount=Decimal("1.00"), last_payment_date=dt.date(2025, 1, 1)
    )

    found = {(p.file_number, p.field, p.stored, p.derived) for p in find_balance_discrepancies()}

    assert found == {
        ("F-BUSY", "last_payment_amount", None, Decimal("25.55")),
        ("F-BUSY", "last_payment_date", None, dt.date(2025, 2, 20)),
        ("F-IDLE", "last_payment_amount", Decimal("1.00"), None),
        ("F-IDLE", "last_payment_date", dt.date(2025, 1, 1), None),
    }
    out, err = run_failing_check()
    assert len(out.splitlines()) == 4
    assert "4 account field(s) and 0 claim(s)" in err


def test_planted_claim_balance_is_reported(ledger):
    claim = ledger["claim"]
    Claim.objects.filter(pk=claim.pk).update(balance=Decimal("250.10"))

    assert find_balance_discrepancies() == []
    assert [row[0] for row in find_claim_discrepancies()] == [claim.pk]
    out, err = run_failing_check()
    assert_lines(
        out,
        [f"claim INV-1 (id {claim.pk}): balance is 250.10, ledger says 200.10"],
    )
    assert "0 account field(s) and 1 claim(s) do not reconcile." in err


def test_limit_stops_after_that_many_accounts(ledger):
    Account.objects.filter(pk__in=[ledger["busy"].pk, ledger["charged"].pk]).update(
        current_balance=Decimal("1.00")
    )

    assert len(find_balance_discrepancies()) == 2
    assert [p.file_number for p in find_balance_discrepancies(limit=1)] == ["F-BUSY"]
    out, err = run_failing_check("--limit", "1")
    assert_lines(
        out,
        [f"account F-BUSY (id {ledger['busy'].pk}): current_balance is 1.00, ledger says 174.45"],
    )


# --- regressions: balances computed in Decimal, dates compared in UTC --------------


def test_cent_amounts_are_stored_exactly():
    """SQLite evaluates F() arithmetic in binary floating point; the service
    computes new balances in Decimal instead."""
    account = AccountFactory(file_number="F-CENTS")
    claim = ClaimFactory(account=account, reference="INV-CENTS")
    post_ledger_entry(account=account, kind=Kind.CHARGE, amount="0.10", claim=claim)
    post_ledger_entry(account=account, kind=Kind.CHARGE, amount="0.20", claim=claim)

    assert Account.objects.get(pk=account.pk).current_balance == Decimal("0.30")
    assert list(Account.objects.filter(current_balance=Decimal("0.30"))) == [account]
    assert list(Claim.objects.filter(balance__lte=Decimal("0.30"))) == [claim]
    assert list(find_claim_discrepancies()) == []
    out, _ = run_check()
    assert out.strip() == SUCCESS


def test_last_payment_date_agrees_with_check_in_a_non_utc_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    account = AccountFactory()
    post_ledger_entry(account=account, kind=Kind.CHARGE, amount="100.00")
    # 02:00 UTC on the 20th is still the 19th in New York.
    payment = record_payment(
        account=account, amount="10.00", received_at=dt.datetime(2025, 2, 20, 2, tzinfo=dt.UTC)
    )
    post_payment(payment=payment)

    assert find_balance_discrepancies() == []
