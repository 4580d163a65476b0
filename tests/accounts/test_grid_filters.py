"""The grid's filters (AccountFilter) through the grid URL and directly:
each filter returns exactly the expected accounts of the user's company,
and bad input is ignored with a notice while the valid filters still apply."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.http import QueryDict
from django.utils import timezone

from accounts.filters import AccountFilter, filter_params
from accounts.roles import COLLECTOR
from accounts.selectors import accounts_visible_to
from tests.accounts.test_grid_views import get_grid
from tests.factories import (
    AccountFactory,
    AccountStatusFactory,
    ClientFactory,
    CreditorFactory,
    DebtorEmailFactory,
    DebtorFactory,
    DebtorPhoneFactory,
    FlagFactory,
    OfficeFactory,
    PortfolioFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NAMES = ("smith", "smithers", "jones", "brown")


def _aware(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def world(company, other_company, collector):
    """Four accounts of ``company`` that differ in every filtered field, and
    one of ``other_company`` that matches most filters (it must never show)."""
    today = timezone.localdate()
    w = {
        "collector": collector,
        "collector_b": UserFactory(company=company, role=COLLECTOR, last_name="Bee"),
        "their_collector": UserFactory(company=other_company, role=COLLECTOR),
        "client_a": ClientFactory(name="Alpha Bank"),
        "client_b": ClientFactory(name="Bravo Credit"),
        "cr1": CreditorFactory(name="First Creditor"),
        "cr2": CreditorFactory(name="Second Creditor"),
        "active": AccountStatusFactory(name="Active", sort_order=1),
        "dispute": AccountStatusFactory(name="Dispute", sort_order=2),
        "closed": AccountStatusFactory(name="Closed", sort_order=3),
        "hardship": FlagFactory(name="Hardship"),
        "vip": FlagFactory(name="Vip"),
        "cease": FlagFactory(name="Cease"),
        "north": OfficeFactory(company=company, name="North"),
        "south": OfficeFactory(company=company, name="South"),
        "their_office": OfficeFactory(company=other_company, name="Theirs"),
    }
    w["pa1"] = PortfolioFactory(client=w["client_a"], name="A One")
    w["pa2"] = PortfolioFactory(client=w["client_a"], name="A Two")
    w["pb1"] = PortfolioFactory(client=w["client_b"], name="B One")

    def account(owner, file_number, account_number, debtor, portfolio, flags=(), **fields):
        created = AccountFactory(
            company=owner,
            file_number=file_number,
            account_number=account_number,
            debtor=debtor,
            portfolio=portfolio,
            client=portfolio.client,
            **fields,
        )
        created.flags.add(*flags)
        return created

    john = DebtorFactory(first_name="John", last_name="Smith", state="NY")
    DebtorEmailFactory(debtor=john, address="john.smith@example.com")
    DebtorPhoneFactory(debtor=john, number="+15551234567")
    w["smith"] = account(
        company,
        "F0010001",
        "400011112222",
        john,
        w["pa1"],
        flags=[w["hardship"]],
        creditor=w["cr1"],
        status=w["active"],
        stage="not_set",
        assigned_to=collector,
        office=w["north"],
        current_balance=Decimal("100.00"),
        last_worked_at=_aware(dt.date(2025, 1, 10)),
        last_payment_date=dt.date(2025, 1, 5),
        default_date=today - dt.timedelta(days=10),
        declined_count=0,
    )
    w["smithers"] = account(
        company,
        "F0010002",
        "400033334444",
        DebtorFactory(first_name="Jane", last_name="Smithers", state="CA"),
        w["pa2"],
        flags=[w["vip"]],
        creditor=w["cr2"],
        status=w["dispute"],
        stage="pending",
        assigned_to=w["collector_b"],
        office=w["south"],
        current_balance=Decimal("250.50"),
        last_worked_at=_aware(dt.date(2025, 2, 15), hour=23),
        last_payment_date=dt.date(2025, 2, 1),
        default_date=today - dt.timedelta(days=40),
        declined_count=2,
    )
    w["jones"] = account(
        company,
        "F0020001",
        "400055556666",
        DebtorFactory(first_name="Mary", last_name="Jones", state="TX"),
        w["pb1"],
        flags=[w["hardship"], w["vip"]],
        creditor=w["cr1"],
        status=w["closed"],
        stage="sent",
        assigned_to=None,
        office=None,
        current_balance=Decimal("1000.00"),
        last_worked_at=None,
        last_payment_date=None,
        default_date=today - dt.timedelta(days=100),
        declined_count=5,
    )
    w["brown"] = account(
        company,
        "F0020002",
        "400077778888",
        DebtorFactory(first_name="Johnny", last_name="Brown", state="NY"),
        w["pb1"],
        creditor=w["cr2"],
        status=w["active"],
        stage="not_set",
        assigned_to=collector,
        office=w["north"],
        current_balance=Decimal("0.00"),
        last_worked_at=_aware(dt.date(2025, 3, 1)),
        last_payment_date=dt.date(2025, 3, 1),
        default_date=None,
        declined_count=1,
    )
    their_john = DebtorFactory(first_name="John", last_name="Smith", state="NY")
    DebtorEmailFactory(debtor=their_john, address="john.smith@example.com")
    DebtorPhoneFactory(debtor=their_john, number="+15551234567")
    w["theirs"] = account(
        other_company,
        "F0010009",
        "400011112222",
        their_john,
        w["pa1"],
        flags=[w["hardship"]],
        creditor=w["cr1"],
        status=w["active"],
        stage="not_set",
        assigned_to=w["their_collector"],
        office=w["their_office"],
        current_balance=Decimal("100.00"),
        last_worked_at=_aware(dt.date(2025, 1, 10)),
        last_payment_date=dt.date(2025, 1, 5),
        default_date=today - dt.timedelta(days=10),
        declined_count=9,
    )
    return w


def _resolve(world, params):
    """Placeholders like "@client_a" become the primary key of that object."""
    out = {}
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        values = [str(world[v[1:]].pk) if v.startswith("@") else v for v in values]
        out[key] = values if isinstance(value, list) else values[0]
    return out


def _names(world, pks):
    by_pk = {world[name].pk: name for name in (*NAMES, "theirs")}
    return {by_pk[pk] for pk in pks}


FILTER_CASES = [
    ({"client": "@client_a"}, {"smith", "smithers"}),
    ({"client": "@client_b"}, {"jones", "brown"}),
    ({"portfolio": "@pa2"}, {"smithers"}),
    ({"portfolio": "@pb1"}, {"jones", "brown"}),
    ({"creditor": "@cr1"}, {"smith", "jones"}),
    ({"status": ["@active"]}, {"smith", "brown"}),
    ({"status": ["@active", "@dispute"]}, {"smith", "smithers", "brown"}),
    ({"status": ["@closed", "@dispute"]}, {"smithers", "jones"}),
    ({"stage": "pending"}, {"smithers"}),
    ({"stage": "not_set"}, {"smith", "brown"}),
    ({"stage": "sent"}, {"jones"}),
    ({"assigned_to": "@collector"}, {"smith", "brown"}),
    ({"assigned_to": "@collector_b"}, {"smithers"}),
    ({"assigned_to": "unassigned"}, {"jones"}),
    ({"flags_any": ["@vip"]}, {"smithers", "jones"}),
    ({"flags_any": ["@hardship", "@vip"]}, {"smith", "smithers", "jones"}),
    ({"flags_any": ["@cease"]}, set()),
    ({"flags_none": ["@hardship"]}, {"smithers", "brown"}),
    ({"flags_none": ["@hardship", "@vip"]}, {"brown"}),
    ({"flags_none": ["@cease"]}, set(NAMES)),
    ({"flags_any": ["@hardship"], "flags_none": ["@vip"]}, {"smith"}),
    ({"state": "NY"}, {"smith", "brown"}),
    ({"state": "CA"}, {"smithers"}),
    ({"state": "WY"}, set()),
    ({"office": "@north"}, {"smith", "brown"}),
    ({"office": "@south"}, {"smithers"}),
    ({"balance_min": "250.50"}, {"smithers", "jones"}),
    ({"balance_max": "250.50"}, {"smith", "smithers", "brown"}),
    ({"balance_min": "100", "balance_max": "300"}, {"smith", "smithers"}),
    ({"balance_max": "0"}, {"brown"}),
    ({"balance_min": "0"}, set(NAMES)),
    ({"last_worked_after": "2025-02-15"}, {"smithers", "brown"}),
    ({"last_worked_before": "2025-02-15"}, {"smith", "smithers"}),
    ({"last_worked_before": "2025-02-14"}, {"smith"}),
    ({"last_worked_after": "2025-01-11", "last_worked_before": "2025-02-28"}, {"smithers"}),
    ({"last_worked_after": "2025-03-01", "last_worked_before": "2025-03-01"}, {"brown"}),
    ({"last_payment_after": "2025-02-01"}, {"smithers", "brown"}),
    ({"last_payment_before": "2025-02-01"}, {"smith", "smithers"}),
    ({"last_payment_after": "2025-01-06", "last_payment_before": "2025-02-28"}, {"smithers"}),
    ({"days_since_default_min": "40"}, {"smithers", "jones"}),
    ({"days_since_default_max": "40"}, {"smith", "smithers"}),
    ({"days_since_default_min": "11", "days_since_default_max": "99"}, {"smithers"}),
    ({"days_since_default_min": "0"}, {"smith", "smithers", "jones"}),
    ({"declined_min": "2"}, {"smithers", "jones"}),
    ({"declined_min": "0"}, set(NAMES)),
    ({"declined_min": "6"}, set()),
    ({"client": "@client_a", "state": "NY", "status": ["@active"]}, {"smith"}),
]

SEARCH_CASES = [
    ("F00", set(NAMES)),
    ("F001", {"smith", "smithers"}),
    ("f0010001", {"smith"}),
    ("F002", {"jones", "brown"}),
    ("F0030", set()),
    ("400011112222", {"smith"}),
    ("4000-1111-2222", {"smith"}),
    ("4000111122", set()),  # account numbers match whole
    ("smi", {"smith", "smithers"}),
    ("SMITH", {"smith", "smithers"}),
    ("Smithers", {"smithers"}),
    ("jOnEs", {"jones"}),
    ("mith", set()),  # a prefix, not a substring
    ("john", {"smith"}),  # first names match exactly (not "Johnny")
    ("John Smith", {"smith"}),
    ("john smi", {"smith"}),
    ("Jane Smith", {"smithers"}),
    ("Smithers, Jane", {"smithers"}),
    ("Johnny Brown", {"brown"}),
    ("Mary Smith", set()),
    ("John.Smith@EXAMPLE.com", {"smith"}),
    ("john.smith@example.com", {"smith"}),
    ("john.smith@example", set()),
    ("smith@example.com", set()),
    ("5551234567", {"smith"}),
    ("(555) 123-4567", {"smith"}),
    ("+1 555 123 4567", {"smith"}),
    ("15551234567", {"smith"}),
    ("555-123-4568", set()),
    ("   ", set(NAMES)),
]


def _mismatches(client, world, cases, to_params):
    """Run every case on one set of accounts; report all that fail at once."""
    wrong = []
    for case, expected in cases:
        page = get_grid(client, {**_resolve(world, to_params(case)), "per_page": 500})
        got = _names(world, page.pks)
        if page.notices or got != expected or page.total != len(expected):
            wrong.append((case, sorted(expected), sorted(got), page.total, page.notices))
    return wrong


def test_each_filter_through_the_grid(client, world):
    client.force_login(world["collector"])
    assert _mismatches(client, world, FILTER_CASES, dict) == []


def test_every_filter_case_directly(world):
    """The same cases on AccountFilter itself, as the saved lists and
    Selection.resolve use it."""
    user = world["collector"]
    for params, expected in FILTER_CASES:
        data = QueryDict(mutable=True)
        for key, value in _resolve(world, params).items():
            data.setlist(key, value if isinstance(value, list) else [value])
        filterset = AccountFilter(data, queryset=accounts_visible_to(user), user=user)
        assert filterset.problems == [], params
        assert _names(world, filterset.qs.values_list("pk", flat=True)) == expected, params


def test_search_box(client, world):
    """File number prefix, account number, last name prefix, first name,
    "First Last", "Last, First", email (exact, any case), phone digits."""
    client.force_login(world["collector"])
    assert _mismatches(client, world, SEARCH_CASES, lambda term: {"q": term}) == []


def test_search_finds_the_other_companys_twin_for_that_company(client, world, other_company):
    """The same search as our collector's, from the other company: their
    account, never ours."""
    outsider = UserFactory(company=other_company, role=COLLECTOR)
    client.force_login(outsider)
    for term in (
        "F001",
        "400011112222",
        "smi",
        "John Smith",
        "JOHN.SMITH@example.com",
        "5551234567",
    ):
        page = get_grid(client, {"q": term})
        assert _names(world, page.pks) == {"theirs"}, term


def test_no_filters_shows_every_account_of_the_company(client, world):
    client.force_login(world["collector"])
    page = get_grid(client, full=True)
    assert _names(world, page.pks) == set(NAMES)
    assert page.total == 4
    assert world["theirs"].file_number not in page.html


# --- bad input ------------------------------------------------------------------------

BAD_CASES = [
    # (params, the notice starts with, what the valid filter "state=NY" leaves)
    ({"status": ["999999"]}, "Status:"),
    ({"status": ["@active", "999999"]}, "Status:"),
    ({"status": ["abc"]}, "Status:"),
    ({"client": "999999"}, "Client:"),
    ({"client": "abc"}, "Client:"),
    ({"portfolio": "abc"}, "Portfolio:"),
    ({"creditor": "0"}, "Creditor:"),
    ({"stage": "archived"}, "Stage:"),
    ({"assigned_to": "abc"}, "Assigned To:"),
    ({"assigned_to": "@their_collector"}, "Assigned To:"),
    ({"flags_any": ["abc"]}, "Has any of these flags:"),
    ({"flags_none": ["999999"]}, "Has none of these flags:"),
    ({"state": "ZZ"}, ("State:", "Debtor state:")),
    ({"office": "@their_office"}, "Office:"),
    ({"balance_min": "abc"}, "Balance from:"),
    ({"balance_max": "1e999999"}, "Balance to:"),
    ({"last_worked_after": "2025-13-45"}, "Last worked from:"),
    ({"last_worked_before": "yesterday"}, "Last worked to:"),
    ({"last_payment_after": "abc"}, "Last payment from:"),
    ({"last_payment_before": "2025-02-30"}, "Last payment to:"),
    ({"days_since_default_min": "-5"}, "Days since default from:"),
    ({"days_since_default_max": "ten"}, "Days since default to:"),
    ({"declined_min": "-1"}, "Declined transactions at least:"),
    ({"declined_min": "two"}, "Declined transactions at least:"),
    ({"balance_min": "500", "balance_max": "100"}, "Current Balance:"),
    ({"last_worked_after": "2025-03-01", "last_worked_before": "2025-01-01"}, "Last Worked:"),
    (
        {"last_payment_after": "2025-03-01", "last_payment_before": "2025-01-01"},
        "Last Payment Date:",
    ),
    ({"days_since_default_min": "50", "days_since_default_max": "10"}, "Days Since Default:"),
]


def test_bad_filter_is_ignored_with_a_notice_and_the_valid_ones_apply(client, world):
    client.force_login(world["collector"])
    wrong = []
    for params, notice in BAD_CASES:
        # The state filter is valid: it still applies. A "state" case replaces it.
        page = get_grid(client, {"state": "NY", **_resolve(world, params)})
        expected = set(NAMES) if "state" in params else {"smith", "brown"}
        ok = (
            len(page.notices) == 1
            and page.notices[0].startswith(notice)
            and page.notices[0].endswith("This filter was ignored.")
            and _names(world, page.pks) == expected
            and page.total == len(expected)
        )
        if not ok:
            wrong.append((params, page.notices, sorted(_names(world, page.pks)), page.total))
    assert wrong == []


def test_bad_filter_on_the_full_page(client, world):
    client.force_login(world["collector"])
    page = get_grid(client, {"state": "NY", "balance_min": "abc"}, full=True)
    assert page.notices == ["Balance from: Enter a number. This filter was ignored."]
    assert _names(world, page.pks) == {"smith", "brown"}
    assert (page.selected, page.total) == (0, 2)


def test_reversed_range_names_the_problem(client, world):
    client.force_login(world["collector"])
    page = get_grid(client, {"balance_min": "500", "balance_max": "100"})
    assert page.notices == [
        "Current Balance: the end of the range is before its start. This filter was ignored."
    ]
    assert _names(world, page.pks) == set(NAMES)


def test_several_bad_filters_each_get_a_notice(client, world):
    client.force_login(world["collector"])
    page = get_grid(
        client,
        _resolve(
            world,
            {
                "status": ["999999"],
                "balance_min": "abc",
                "last_payment_after": "2025-03-01",
                "last_payment_before": "2025-01-01",
                "client": "@client_a",
            },
        ),
    )
    assert len(page.notices) == 3
    assert _names(world, page.pks) == {"smith", "smithers"}
    assert page.total == 2


def test_filter_choices_are_scoped_to_the_users_company(world):
    user = world["collector"]
    filterset = AccountFilter(QueryDict(), queryset=accounts_visible_to(user), user=user)
    collector_ids = {value for value, _ in filterset.collector_choices}
    assert collector_ids == {
        "unassigned",
        str(world["collector"].pk),
        str(world["collector_b"].pk),
    }
    offices = set(filterset.filters["office"].queryset.values_list("pk", flat=True))
    assert offices == {world["north"].pk, world["south"].pk}


def test_problems_are_empty_for_no_input(world):
    user = world["collector"]
    filterset = AccountFilter(QueryDict(), queryset=accounts_visible_to(user), user=user)
    assert filterset.problems == []
    assert filterset.qs.count() == 4


def test_filter_params_are_canonical():
    one = QueryDict("state=NY&sort=-debtor&page=3&status=2&status=1&q=+smi+&per_page=25&list=4")
    two = QueryDict("status=2&q=smi&status=1&state=NY&client=&bogus=1")
    assert filter_params(one) == [("q", "smi"), ("state", "NY"), ("status", "2"), ("status", "1")]
    assert filter_params(one) == filter_params(two)


# --- "More filters" on the full page ------------------------------------------------------

# One value for each filter under "More filters" (every filter but the search
# box and the four beside it); ``w`` is the ``world`` fixture.
MORE_FILTER_VALUES = {
    "creditor": lambda w: str(w["cr1"].pk),
    "status": lambda w: str(w["dispute"].pk),
    "flags_any": lambda w: str(w["vip"].pk),
    "flags_none": lambda w: str(w["cease"].pk),
    "state": lambda w: "NY",
    "office": lambda w: str(w["north"].pk),
    "balance_min": lambda w: "100",
    "balance_max": lambda w: "300",
    "last_worked_after": lambda w: "2025-01-01",
    "last_worked_before": lambda w: "2025-12-31",
    "last_payment_after": lambda w: "2025-01-01",
    "last_payment_before": lambda w: "2025-12-31",
    "days_since_default_min": lambda w: "5",
    "days_since_default_max": lambda w: "50",
    "declined_min": lambda w: "1",
    "as_of": lambda w: "2025-06-30",
    "balance_as_of_min": lambda w: "0",
    "balance_as_of_max": lambda w: "500",
}


def _more_filters(page) -> tuple[bool, str]:
    """Whether the page's "More filters" section is open, and its markup."""
    details = re.search(r"<details\b([^>]*)>(.*?)</details>", page.html, re.S)
    assert details, "no More filters section"
    return bool(re.search(r"\bopen\b", details.group(1))), details.group(2)


def test_more_filters_holds_every_filter_but_the_search_box_and_the_four_beside_it(client, world):
    from accounts.grid import MAIN_FILTERS, SEARCH_FILTER

    client.force_login(world["collector"])
    page = get_grid(client, {}, full=True)
    is_open, more = _more_filters(page)
    assert not is_open  # no filter at all
    # "file" (Select from file) is a hidden filter: set by an upload, kept
    # as a hidden input only while it is set, never under More filters.
    hidden = {"file"}
    names = set(AccountFilter.base_filters) - {SEARCH_FILTER, *MAIN_FILTERS} - hidden
    assert names == set(MORE_FILTER_VALUES)
    form = re.search(r'<form id="filters".*?</form>', page.html, re.S).group(0)
    for name in AccountFilter.base_filters:
        in_more = f'name="{name}"' in more
        assert in_more == (name in names), name
        assert form.count(f'name="{name}"') == (name not in hidden), name  # once, in one place
    page = get_grid(client, {"file": "12345"}, full=True)
    is_open, more = _more_filters(page)
    assert not is_open and 'name="file"' not in more
    form = re.search(r'<form id="filters".*?</form>', page.html, re.S).group(0)
    assert form.count('type="hidden" name="file" value="12345"') == 1


@pytest.mark.parametrize("name", sorted(MORE_FILTER_VALUES))
def test_more_filters_opens_for_each_filter_in_it(client, world, name):
    """It stayed closed for the dates and days since default: the template
    listed some of the section's filters by hand."""
    client.force_login(world["collector"])
    page = get_grid(client, {name: MORE_FILTER_VALUES[name](world)}, full=True)
    is_open, _ = _more_filters(page)
    assert is_open, name


@pytest.mark.parametrize(
    "params",
    [
        {"q": "Smith"},
        {"stage": "pending"},
        {"assigned_to": "unassigned"},
        {"per_page": "25", "sort": "-debtor", "page": "1"},
        {"balance_min": ""},  # blank: the form was sent with nothing in it
        {"status": ""},
    ],
)
def test_more_filters_stays_closed_without_a_value_in_it(client, world, params):
    client.force_login(world["collector"])
    page = get_grid(client, params, full=True)
    assert not _more_filters(page)[0], params


def test_more_filters_opens_for_a_value_that_was_ignored(client, world):
    """The filter is shown with its notice, not hidden in a closed section."""
    client.force_login(world["collector"])
    page = get_grid(client, {"days_since_default_min": "soon"}, full=True)
    assert page.notices and "Days since default from" in page.notices[0]
    assert _more_filters(page)[0]


def test_filter_groups_name_the_fields_with_a_value():
    from accounts.grid import filter_groups

    for data, expected in (
        ({}, False),
        ({"client": "1", "q": "x"}, False),
        ({"last_payment_before": "2025-01-01"}, True),
        ({"flags_any": ["", "3"]}, True),
        ({"flags_any": [""]}, False),
    ):
        querydict = QueryDict(mutable=True)
        for key, value in data.items():
            querydict.setlist(key, value if isinstance(value, list) else [value])
        assert filter_groups(AccountFilter(querydict)).more_open is expected, data
    assert filter_groups(AccountFilter(None)).more_open is False
