"""The grid's As of Date and Balance as of (billing.grid): the balance at
the end of a day summed from the ledger, as a filter range and as a
column, through the one FilterSet that the grid, saved lists and every
Selection use; bad input ignored with a notice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.http import QueryDict
from django.utils import timezone

from accounts.filters import AccountFilter
from accounts.services import save_grid_columns
from billing.fees import balances_as_of
from billing.models import LedgerEntry
from billing.services import post_ledger_entry
from bulkops.selection import Selection
from tests.accounts.test_grid_views import get_grid
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

D = Decimal


def post(account, kind, amount, days_ago):
    """A ledger entry posted at noon ``days_ago`` days before today."""
    entry = post_ledger_entry(account=account, kind=kind, amount=D(amount))
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    noon = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
    LedgerEntry.objects.filter(pk=entry.pk).update(posted_at=noon)
    return entry


@pytest.fixture
def ledger(company, other_company):
    """Three accounts whose balances moved over the last days:

    - ``rising``: 100 three days ago, 40 paid two days ago, 10 today (70 now);
    - ``paid``: 80 three days ago, paid off yesterday (0 now);
    - ``theirs``: another company's, 500 three days ago."""
    rising = AccountFactory(company=company, current_balance=D("0.00"))
    paid = AccountFactory(company=company, current_balance=D("0.00"))
    theirs = AccountFactory(company=other_company, current_balance=D("0.00"))
    post(rising, "charge", "100.00", 3)
    post(rising, "payment", "-40.00", 2)
    post(rising, "charge", "10.00", 0)
    post(paid, "charge", "80.00", 3)
    post(paid, "payment", "-80.00", 1)
    post(theirs, "charge", "500.00", 3)
    return {"rising": rising, "paid": paid, "theirs": theirs}


def day(days_ago: int) -> str:
    return (timezone.localdate() - dt.timedelta(days=days_ago)).isoformat()


def matching(user, **params) -> set[int]:
    return set(AccountFilter.for_user(user, params).qs.values_list("pk", flat=True))


def test_the_range_is_the_ledger_balance_at_the_end_of_the_as_of_date(supervisor, ledger):
    rising, paid = ledger["rising"].pk, ledger["paid"].pk
    assert matching(supervisor, as_of=day(3), balance_as_of_min="80") == {rising, paid}
    assert matching(supervisor, as_of=day(2), balance_as_of_min="80") == {paid}
    assert matching(supervisor, as_of=day(1), balance_as_of_min="1") == {rising}
    assert matching(supervisor, as_of=day(2), balance_as_of_max="60") == {rising}
    assert matching(supervisor, as_of=day(2), balance_as_of_min="60", balance_as_of_max="60") == {
        rising
    }
    # Before any entry both owed nothing.
    assert matching(supervisor, as_of=day(5), balance_as_of_max="0") == {rising, paid}
    # Without an As of Date: the end of today (what the ledger holds now).
    assert matching(supervisor, balance_as_of_min="70") == {rising}
    # The As of Date alone filters nothing: it dates the range and the column.
    assert matching(supervisor, as_of=day(3)) == {rising, paid}
    # Another company's account is never matched, whatever its balance.
    assert ledger["theirs"].pk not in matching(supervisor, as_of=day(3), balance_as_of_min="1")


def test_the_figure_is_add_fees_balance_as_of(ledger):
    ids = [ledger["rising"].pk, ledger["paid"].pk]
    expected = {
        3: [D("100.00"), D("80.00")],
        2: [D("60.00"), D("80.00")],
        1: [D("60.00"), D("0.00")],
        0: [D("70.00"), D("0.00")],
    }
    for days_ago, balances in expected.items():
        as_of = timezone.localdate() - dt.timedelta(days=days_ago)
        assert [balances_as_of(ids, as_of)[pk] for pk in ids] == balances


def test_the_column_shows_the_balance_as_of_the_filters_date(client, supervisor, ledger):
    from accounts.columns import DEFAULT_COLUMNS

    save_grid_columns(user=supervisor, columns=[*DEFAULT_COLUMNS, "balance_as_of"])
    client.force_login(supervisor)
    rising, paid = ledger["rising"].pk, ledger["paid"].pk
    page = get_grid(client, {"as_of": day(2)})
    assert page.headers[-1] == "Balance as of"
    assert (page.cell(rising, "Balance as of"), page.cell(paid, "Balance as of")) == (
        "$60.00",
        "$80.00",
    )
    page = get_grid(client, {"as_of": day(2), "balance_as_of_min": "70"})
    assert page.pks == [paid]
    today = get_grid(client)
    assert (today.cell(rising, "Balance as of"), today.cell(paid, "Balance as of")) == (
        "$70.00",
        "$0.00",
    )


def test_a_future_as_of_date_or_a_reversed_range_is_ignored_with_a_notice(
    client, supervisor, ledger
):
    client.force_login(supervisor)
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    page = get_grid(client, {"as_of": tomorrow, "balance_as_of_min": "75"})
    assert (
        "As of Date: The As of Date cannot be in the future. This filter was ignored."
        in page.notices
    )
    # The range still applies, at the end of today.
    assert page.pks == []
    page = get_grid(client, {"as_of": day(3), "balance_as_of_min": "90", "balance_as_of_max": "10"})
    assert any(
        "Balance as of: the end of the range is before its start." in n for n in page.notices
    )
    assert sorted(page.pks) == sorted([ledger["rising"].pk, ledger["paid"].pk])
    page = get_grid(client, {"as_of": "yesterday-ish", "balance_as_of_min": "ten"})
    assert len(page.notices) == 2 and sorted(page.pks) == sorted(
        [ledger["rising"].pk, ledger["paid"].pk]
    )


def test_select_all_matching_uses_the_same_rows(supervisor, ledger):
    data = QueryDict(mutable=True)
    data.update({"as_of": day(2), "balance_as_of_min": "70"})
    selection = Selection.for_filters("accounts", data).select_all()
    assert selection.count(supervisor) == 1
    assert set(selection.matching(supervisor).values_list("pk", flat=True)) == {ledger["paid"].pk}
