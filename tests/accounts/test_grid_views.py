"""The accounts grid page through the test client: columns and their
labels, masking, sorting, page sizes, bad paging and sorting input, company
isolation, permissions, and a constant number of queries per page.

The helpers at the top (``get_grid``, ``parse_grid``) read the rendered HTML
the way a user sees it; the other grid test modules import them."""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.columns import GRID_COLUMNS
from accounts.models import Account
from accounts.roles import COLLECTOR, SUPERVISOR
from accounts.services import save_grid_columns
from billing.services import post_ledger_entry
from common.models import TablePreference
from tests.factories import (
    AccountFactory,
    AccountStatusFactory,
    ClientFactory,
    CompanyFactory,
    CreditorFactory,
    DebtorFactory,
    FlagFactory,
    OfficeFactory,
    PortfolioFactory,
    SavedListFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def grid_preferences():
    """The grid's remembered columns, among every table's."""
    return TablePreference.objects.filter(table="accounts")


DEFAULT_LABELS = [
    "File Number",
    "Client",
    "Portfolio",
    "Account",
    "Debtor",
    "Status",
    "Current Balance",
    "Assigned To",
]
OPTIONAL_LABELS = [
    "Creditor",
    "Last Worked",
    "Last Payment Amount",
    "Last Payment Date",
    "State",
    "Declined Transactions",
    "Stage",
    "Flags",
    "Days Since Default",
    "Office",
    "Balance as of",  # billing's (billing.grid), after the accounts app's own
]

# --- reading the page ------------------------------------------------------------


@dataclass
class Row:
    pk: int
    cells: list[str]
    checked: bool


@dataclass
class GridPage:
    status: int
    html: str
    headers: list[str]
    rows: list[Row]
    notices: list[str]
    selected: int | None
    total: int | None
    context: object = None

    @property
    def pks(self) -> list[int]:
        return [row.pk for row in self.rows]

    def row(self, pk: int) -> Row:
        return next(row for row in self.rows if row.pk == pk)

    def cell(self, pk: int, header: str) -> str:
        return self.row(pk).cells[self.headers.index(header)]

    def cells_by_header(self, pk: int) -> dict[str, str]:
        return dict(zip(self.headers, self.row(pk).cells, strict=True))


_TAG = re.compile(r"<[^>]+>")


def _text(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", fragment)).split())


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def parse_counter(content: str) -> tuple[int, int] | None:
    """(selected, total) from "<strong>N</strong> selected of M"."""
    match = re.search(
        r'data-testid="selection-counter"[^>]*><strong>([\d,]+)</strong> selected of ([\d,]+)<',
        content,
    )
    return (_number(match.group(1)), _number(match.group(2))) if match else None


def parse_notices(content: str) -> list[str]:
    return [_text(m) for m in re.findall(r'data-testid="grid-notice">(.*?)</div>', content, re.S)]


def parse_grid(response) -> GridPage:
    content = response.content.decode()
    headers: list[str] = []
    rows: list[Row] = []
    table = re.search(r'<table [^>]*id="accounts-table"[^>]*>(.*?)</table>', content, re.S)
    if table:
        thead = re.search(r"<thead[^>]*>(.*?)</thead>", table.group(1), re.S).group(1)
        ths = re.findall(r"<th [^>]*>(.*?)</th>", thead, re.S)
        # The first header cell is the select-all checkbox.
        headers = [_text(th).rstrip("▲▼ ").strip() for th in ths[1:]]
        for pk, body in re.findall(r'<tr data-account="(\d+)">(.*?)</tr>', table.group(1), re.S):
            tds = re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
            rows.append(
                Row(pk=int(pk), cells=[_text(td) for td in tds[1:]], checked="checked" in tds[0])
            )
    counter = parse_counter(content)
    return GridPage(
        status=response.status_code,
        html=content,
        headers=headers,
        rows=rows,
        notices=parse_notices(content),
        selected=counter[0] if counter else None,
        total=counter[1] if counter else None,
        context=response.context,
    )


HTMX_GRID = {"HX-Request": "true", "HX-Target": "grid"}


def get_grid(client, params=None, *, full: bool = False) -> GridPage:
    """GET the grid: by default the ``#grid`` fragment htmx asks for (the
    same build_grid, a fifth of the rendering time); ``full=True`` for the
    whole page with its filter form and Lists menu."""
    response = client.get(
        reverse("accounts:grid"), params or {}, headers=None if full else HTMX_GRID
    )
    assert response.status_code == 200, response.status_code
    return parse_grid(response)


# --- columns and their labels -------------------------------------------------------


@pytest.fixture
def one_account(company, collector):
    debtor = DebtorFactory(first_name="Ada", last_name="Lovelace", state="NY")
    return AccountFactory(
        company=company,
        file_number="F7000001",
        account_number="400012345678",
        client=ClientFactory(name="Alpha Bank"),
        portfolio=PortfolioFactory(name="Spring 2024"),
        debtor=debtor,
        status=AccountStatusFactory(name="In Dispute"),
        assigned_to=collector,
        current_balance=Decimal("1234.50"),
    )


def test_default_columns_and_labels_in_order(client, collector, one_account):
    client.force_login(collector)
    page = get_grid(client, full=True)
    assert page.headers == DEFAULT_LABELS
    assert page.pks == [one_account.pk]
    cells = page.cells_by_header(one_account.pk)
    assert cells["File Number"] == "F7000001"
    assert cells["Client"] == "Alpha Bank"
    assert cells["Portfolio"] == "Spring 2024"
    assert cells["Debtor"] == "Ada Lovelace"
    assert cells["Status"] == "In Dispute"
    assert cells["Current Balance"] == "$1,234.50"
    assert cells["Assigned To"] == collector.get_full_name()
    # The file number links to the account page.
    assert reverse("accounts:detail", args=[one_account.pk]) in page.html


def test_account_number_is_masked_for_a_collector(client, collector, one_account):
    assert not collector.has_perm("accounts.view_unmasked_data")
    client.force_login(collector)
    page = get_grid(client, full=True)
    assert page.cell(one_account.pk, "Account") == "****5678"
    assert "400012345678" not in page.html


def test_account_number_is_unmasked_for_a_supervisor(client, supervisor, one_account):
    assert supervisor.has_perm("accounts.view_unmasked_data")
    client.force_login(supervisor)
    page = get_grid(client)
    assert page.cell(one_account.pk, "Account") == "400012345678"


def test_saved_column_choice_is_remembered_per_user_in_that_order(
    client, collector, supervisor, one_account
):
    client.force_login(collector)
    response = client.post(
        reverse("accounts:columns"),
        {"columns": ["debtor", "file_number", "creditor", "current_balance"], "state": "q=F70"},
    )
    assert response.status_code == 302
    assert response.url == reverse("accounts:grid") + "?q=F70"
    preference = grid_preferences().get(user=collector)
    assert preference.columns == ["debtor", "file_number", "creditor", "current_balance"]

    page = get_grid(client)
    assert page.headers == ["Debtor", "File Number", "Creditor", "Current Balance"]
    assert page.cell(one_account.pk, "Debtor") == "Ada Lovelace"
    assert page.cell(one_account.pk, "Creditor") == one_account.creditor.name

    # Another user of the same company keeps the defaults.
    client.force_login(supervisor)
    assert get_grid(client).headers == DEFAULT_LABELS


def test_columns_post_confirms_with_a_message(client, collector, one_account):
    client.force_login(collector)
    response = client.post(reverse("accounts:columns"), {"columns": ["stage"]}, follow=True)
    assert "Columns saved." in response.content.decode()
    assert parse_grid(response).headers == ["Stage"]


def test_columns_post_without_a_known_column_is_refused(client, collector, one_account):
    save_grid_columns(user=collector, columns=["debtor", "file_number"])
    client.force_login(collector)
    for data in ({}, {"columns": ["bogus"]}):
        response = client.post(reverse("accounts:columns"), data, follow=True)
        assert "Choose at least one known column." in response.content.decode()
        assert grid_preferences().get(user=collector).columns == ["debtor", "file_number"]
        assert parse_grid(response).headers == ["Debtor", "File Number"]


def test_unknown_column_keys_never_reach_the_grid(client, collector, one_account):
    client.force_login(collector)
    # Through the endpoint: whatever it answers, an unknown key is not stored.
    client.post(reverse("accounts:columns"), {"columns": ["creditor", "bogus", "file_number"]})
    stored = grid_preferences().filter(user=collector).values_list("columns", flat=True)
    assert all("bogus" not in columns for columns in stored)
    # The service drops unknown keys.
    assert save_grid_columns(user=collector, columns=["creditor", "bogus", "stage"]).columns == [
        "creditor",
        "stage",
    ]
    # A stale preference (a column since removed) shows the known ones only.
    grid_preferences().filter(user=collector).update(
        columns=["gone", "state", "file_number", "gone_too"]
    )
    assert get_grid(client).headers == ["State", "File Number"]
    # Nothing known left: the defaults.
    grid_preferences().filter(user=collector).update(columns=["gone"])
    assert get_grid(client).headers == DEFAULT_LABELS


def test_optional_columns_render(client, supervisor, company):
    today = timezone.localdate()
    worked = timezone.make_aware(dt.datetime(2025, 3, 4, 14, 30))
    flag_b, flag_a = FlagFactory(name="Vip"), FlagFactory(name="Hardship")
    account = AccountFactory(
        company=company,
        creditor=CreditorFactory(name="Original Bank"),
        debtor=DebtorFactory(state="CA"),
        office=OfficeFactory(company=company, name="Austin"),
        stage=Account.Stage.PENDING,
        last_worked_at=worked,
        last_payment_amount=Decimal("75.25"),
        last_payment_date=dt.date(2025, 2, 28),
        declined_count=3,
        default_date=today - dt.timedelta(days=42),
    )
    account.flags.add(flag_b, flag_a)
    post_ledger_entry(account=account, kind="charge", amount=Decimal("240.00"))
    bare = AccountFactory(company=company, creditor=None)
    save_grid_columns(user=supervisor, columns=list(GRID_COLUMNS))
    client.force_login(supervisor)
    page = get_grid(client, full=True)
    assert page.headers == DEFAULT_LABELS + OPTIONAL_LABELS
    cells = page.cells_by_header(account.pk)
    assert cells["Creditor"] == "Original Bank"
    assert cells["Last Worked"] == timezone.localtime(worked).strftime("%Y-%m-%d %H:%M")
    assert cells["Last Payment Amount"] == "$75.25"
    assert cells["Last Payment Date"] == "2025-02-28"
    assert cells["State"] == "California"
    assert cells["Declined Transactions"] == "3"
    assert cells["Stage"] == "Pending"
    assert cells["Flags"] == "Hardship, Vip"
    assert cells["Days Since Default"] == "42"
    assert cells["Office"] == "Austin"
    assert cells["Balance as of"] == "$240.00"  # from the ledger, at the end of today
    # Empty values render as a dash, not "None".
    empty = page.cells_by_header(bare.pk)
    for header in (
        "Creditor",
        "Last Worked",
        "Last Payment Amount",
        "Last Payment Date",
        "Flags",
        "Days Since Default",
        "Office",
        "Assigned To",
    ):
        assert empty[header] == "—", header
    assert "None" not in " ".join(empty.values())


# --- sorting ----------------------------------------------------------------------------

# Each column gets its own order of the four accounts (rank of a0..a3), so a
# sort that is silently ignored (file number order) fails.
RANKS = {
    "client": [2, 0, 3, 1],
    "portfolio": [1, 3, 0, 2],
    "account_number": [3, 2, 1, 0],
    "debtor": [1, 0, 3, 2],
    "status": [2, 3, 1, 0],
    "current_balance": [3, 1, 0, 2],
    "assigned_to": [0, 2, 1, 3],
    "creditor": [1, 2, 3, 0],
    "last_worked_at": [2, 0, 1, 3],
    "last_payment_amount": [3, 0, 2, 1],
    "last_payment_date": [1, 3, 2, 0],
    "state": [2, 1, 0, 3],
    "declined_count": [3, 2, 0, 1],
    "days_since_default": [0, 3, 1, 2],
    "office": [3, 0, 1, 2],
}
STAGES = [Account.Stage.SENT, Account.Stage.NOT_SET, Account.Stage.PENDING, Account.Stage.NOT_SET]
WORDS = ["Alpha", "Bravo", "Charlie", "Delta"]
STATES = ["AZ", "CA", "NY", "TX"]


@pytest.fixture
def sortable(company):
    """Four accounts, every sortable value set (no NULLs: databases order
    them differently) and distinct, letters only (same order under any
    collation)."""
    today = timezone.localdate()
    statuses = [
        AccountStatusFactory(name=f"Sort {w}", sort_order=10 + i) for i, w in enumerate(WORDS)
    ]
    collectors = [
        UserFactory(company=company, role=COLLECTOR, first_name="Pat", last_name=f"{w}son")
        for w in WORDS
    ]
    offices = [OfficeFactory(company=company, name=f"{w} Office") for w in WORDS]
    clients = [ClientFactory(name=f"{w} Client") for w in WORDS]
    accounts = []
    for i in range(4):
        r = {column: ranks[i] for column, ranks in RANKS.items()}
        accounts.append(
            AccountFactory(
                company=company,
                file_number=f"F800000{i}",
                account_number=f"50000000000{r['account_number']}",
                client=clients[r["client"]],
                portfolio=PortfolioFactory(
                    client=clients[r["client"]], name=f"{WORDS[r['portfolio']]} Portfolio"
                ),
                debtor=DebtorFactory(
                    first_name="Sam", last_name=f"{WORDS[r['debtor']]}er", state=STATES[r["state"]]
                ),
                status=statuses[r["status"]],
                current_balance=Decimal("100.00") * (r["current_balance"] + 1),
                assigned_to=collectors[r["assigned_to"]],
                creditor=CreditorFactory(name=f"{WORDS[r['creditor']]} Creditor"),
                last_worked_at=timezone.make_aware(
                    dt.datetime(2025, 1, 1 + r["last_worked_at"], 9)
                ),
                last_payment_amount=Decimal("10.00") + r["last_payment_amount"],
                last_payment_date=dt.date(2025, 2, 1 + r["last_payment_date"]),
                declined_count=r["declined_count"],
                stage=STAGES[i],
                default_date=today - dt.timedelta(days=10 * (r["days_since_default"] + 1)),
                office=offices[r["office"]],
            )
        )
    return accounts


def _expected_order(accounts, column):
    if column == "file_number":
        key = [a.file_number for a in accounts]
    elif column == "stage":
        key = [a.stage for a in accounts]
    else:
        key = [RANKS[column][i] for i in range(len(accounts))]
    ordered = sorted(range(len(accounts)), key=lambda i: (key[i], accounts[i].pk))
    return [accounts[i].pk for i in ordered]


SORTABLE = ["file_number", "stage", *RANKS]


@pytest.mark.parametrize("column", SORTABLE)
def test_sort_by_each_column_both_directions(client, supervisor, sortable, column):
    save_grid_columns(user=supervisor, columns=list(GRID_COLUMNS))
    client.force_login(supervisor)
    ascending = _expected_order(sortable, column)
    page = get_grid(client, {"sort": column})
    assert page.notices == []
    assert page.pks == ascending
    page = get_grid(client, {"sort": f"-{column}"})
    assert page.notices == []
    assert page.pks == list(reversed(ascending))
    if column not in ("file_number", "account_number"):
        assert ascending != sorted(ascending, key=lambda pk: Account.objects.get(pk=pk).file_number)


def test_sort_by_a_column_that_is_not_shown(client, collector, sortable):
    """The default columns: sorting by an optional column still works."""
    client.force_login(collector)
    for column in ("creditor", "days_since_default", "last_payment_date", "office"):
        ascending = _expected_order(sortable, column)
        page = get_grid(client, {"sort": column})
        assert (page.notices, page.pks) == ([], ascending), column
        page = get_grid(client, {"sort": f"-{column}"})
        assert (page.notices, page.pks) == ([], list(reversed(ascending))), column


def test_grid_without_the_file_number_column_still_sorts_by_file_number(
    client, collector, sortable
):
    save_grid_columns(user=collector, columns=["debtor", "stage"])
    client.force_login(collector)
    page = get_grid(client)
    assert page.headers == ["Debtor", "Stage"]
    assert page.notices == []
    assert page.pks == _expected_order(sortable, "file_number")
    page = get_grid(client, {"sort": "bogus"})
    assert page.notices == ["Cannot sort by “bogus”; sorted by File Number instead."]
    assert page.pks == _expected_order(sortable, "file_number")


def test_sort_by_days_since_default_means_fewest_days_first(client, supervisor, sortable):
    save_grid_columns(user=supervisor, columns=["file_number", "days_since_default"])
    client.force_login(supervisor)
    days = [int(row.cells[1]) for row in get_grid(client, {"sort": "days_since_default"}).rows]
    assert days == sorted(days) and len(set(days)) == 4
    days = [int(row.cells[1]) for row in get_grid(client, {"sort": "-days_since_default"}).rows]
    assert days == sorted(days, reverse=True)


def test_sort_header_marks_the_active_column_and_links_the_other_direction(
    client, supervisor, sortable
):
    client.force_login(supervisor)
    page = get_grid(client, {"sort": "current_balance", "page": "1", "state": "NY"})
    assert 'aria-sort="ascending"' in page.html
    assert "Current Balance ▲" in page.html
    # The header links flip the direction, keep the filters and drop the page.
    assert 'href="?sort=-current_balance&amp;state=NY"' in page.html or (
        'href="?state=NY&amp;sort=-current_balance"' in page.html
    )
    page = get_grid(client, {"sort": "-current_balance"})
    assert 'aria-sort="descending"' in page.html


def test_flags_column_is_not_sortable(client, supervisor, sortable):
    save_grid_columns(user=supervisor, columns=list(GRID_COLUMNS))
    client.force_login(supervisor)
    page = get_grid(client, {"sort": "flags"})
    assert len(page.notices) == 1 and "flags" in page.notices[0]
    assert page.pks == _expected_order(sortable, "file_number")


# --- page sizes and bad paging input -----------------------------------------------------


@pytest.fixture
def many(company):
    """120 accounts sharing their related rows (fast to create)."""
    portfolio = PortfolioFactory()
    shared = {
        "company": company,
        "portfolio": portfolio,
        "client": portfolio.client,
        "creditor": CreditorFactory(),
        "debtor": DebtorFactory(),
        "status": AccountStatusFactory(name="Active"),
    }
    accounts = [AccountFactory(file_number=f"F9{i:06d}", **shared) for i in range(120)]
    return [a.pk for a in accounts]


@pytest.mark.parametrize(
    "per_page,page,expected_slice,pages",
    [
        (25, 1, slice(0, 25), 5),
        (25, 5, slice(100, 120), 5),
        (50, 2, slice(50, 100), 3),
        (100, 2, slice(100, 120), 2),
        (500, 1, slice(0, 120), 1),
    ],
)
def test_page_sizes(client, collector, many, per_page, page, expected_slice, pages):
    client.force_login(collector)
    result = get_grid(client, {"per_page": per_page, "page": page})
    assert result.notices == []
    assert result.pks == many[expected_slice]
    assert f"Page {page} of {pages}" in result.html
    assert f'<option value="{per_page}" selected>' in result.html
    assert result.total == 120


def test_default_page_size_is_50(client, collector, many):
    client.force_login(collector)
    page = get_grid(client)
    assert page.pks == many[:50]
    assert "Page 1 of 3" in page.html


def test_previous_and_next_links_keep_the_filters(client, collector, many):
    client.force_login(collector)
    page = get_grid(client, {"per_page": 25, "page": 2, "q": "F9", "sort": "-file_number"})
    assert page.pks == list(reversed(many))[25:50]
    assert "page=1" in page.html and "page=3" in page.html
    assert "q=F9" in page.html


@pytest.mark.parametrize(
    "params,notice,shown",
    [
        (
            {"page": "99", "per_page": "25"},
            "There is no page 99; showing the last page, 5.",
            (100, 120),
        ),
        ({"page": "abc", "per_page": "25"}, "“abc” is not a page number; showing page 1.", (0, 25)),
        ({"per_page": "7"}, "Page size must be one of 25, 50, 100, 500; showing 50.", (0, 50)),
        ({"per_page": "many"}, "Page size must be one of 25, 50, 100, 500; showing 50.", (0, 50)),
        (
            {"sort": "password", "per_page": "25"},
            "Cannot sort by “password”; sorted by File Number instead.",
            (0, 25),
        ),
        (
            {"sort": "-company", "per_page": "25"},
            "Cannot sort by “-company”; sorted by File Number instead.",
            (0, 25),
        ),
    ],
)
def test_bad_paging_and_sorting_input_shows_a_notice(
    client, collector, many, params, notice, shown
):
    client.force_login(collector)
    page = get_grid(client, params)
    assert page.notices == [notice]
    assert page.pks == many[shown[0] : shown[1]]
    assert page.total == 120


def test_page_zero_or_negative_shows_the_first_page(client, collector, many):
    client.force_login(collector)
    for value in ("0", "-3"):
        assert get_grid(client, {"page": value, "per_page": 25}).pks == many[:25]


def test_bad_input_keeps_the_valid_filters_and_hides_other_companies(
    client, collector, company, other_company
):
    ours_ny = AccountFactory(company=company, debtor=DebtorFactory(state="NY"))
    AccountFactory(company=company, debtor=DebtorFactory(state="CA"))
    theirs_ny = AccountFactory(company=other_company, debtor=DebtorFactory(state="NY"))
    client.force_login(collector)
    page = get_grid(
        client,
        {"state": "NY", "status": "999999", "page": "abc", "per_page": "7", "sort": "nope"},
        full=True,
    )
    assert page.pks == [ours_ny.pk]
    assert page.total == 1
    assert theirs_ny.file_number not in page.html
    assert len(page.notices) == 4
    assert any(n.startswith("Status:") and "ignored" in n for n in page.notices)


def test_unknown_saved_list_shows_a_notice(client, collector, one_account):
    client.force_login(collector)
    for value in ("999999", "abc"):
        page = get_grid(client, {"list": value})
        assert page.notices == ["That saved list does not exist or is not shared with you."]
        assert page.pks == [one_account.pk]


# --- company isolation ------------------------------------------------------------------


@pytest.fixture
def two_companies(company, other_company):
    return {
        "ours": [AccountFactory(company=company) for _ in range(3)],
        "theirs": [AccountFactory(company=other_company) for _ in range(2)],
        "third": AccountFactory(company=CompanyFactory()),
    }


@pytest.fixture
def outsider(other_company):
    return UserFactory(username="outsider", company=other_company, role=SUPERVISOR)


def test_each_company_sees_and_counts_only_its_accounts(client, collector, outsider, two_companies):
    client.force_login(collector)
    page = get_grid(client, full=True)
    assert page.pks == [a.pk for a in two_companies["ours"]]
    assert (page.selected, page.total) == (0, 3)

    client.force_login(outsider)
    page = get_grid(client, full=True)
    assert page.pks == [a.pk for a in two_companies["theirs"]]
    assert (page.selected, page.total) == (0, 2)
    for account in two_companies["ours"]:
        assert account.file_number not in page.html


def test_search_never_reaches_another_companys_account(client, outsider, two_companies):
    client.force_login(outsider)
    ours = two_companies["ours"][0]
    for term in (ours.file_number, ours.account_number, ours.debtor.first_name):
        page = get_grid(client, {"q": term})
        assert ours.pk not in page.pks
        assert all(pk in {a.pk for a in two_companies["theirs"]} for pk in page.pks)


def test_toggling_another_companys_account_is_refused_with_a_notice(
    client, outsider, two_companies
):
    client.force_login(outsider)
    get_grid(client)
    foreign = two_companies["ours"][0]
    response = client.post(
        reverse("accounts:selection"),
        {"op": "toggle", "id": foreign.pk, "checked": "1", "state": ""},
    )
    assert response.status_code == 200
    page = parse_grid(response)
    assert page.notices == ["That account is not available to you."]
    assert (page.selected, page.total) == (0, 2)
    assert foreign.pk not in client.session["account_selection"]["ids"]
    # Reloading the grid: still nothing selected.
    assert get_grid(client).selected == 0


def test_select_all_counts_only_visible_accounts(client, outsider, two_companies):
    client.force_login(outsider)
    response = client.post(reverse("accounts:selection"), {"op": "all", "state": ""})
    page = parse_grid(response)
    assert (page.selected, page.total) == (2, 2)


def test_account_page_of_another_company_is_404(client, outsider, collector, two_companies):
    foreign = two_companies["ours"][0]
    client.force_login(outsider)
    assert client.get(reverse("accounts:detail", args=[foreign.pk])).status_code == 404
    assert client.get(reverse("accounts:detail", args=[999999])).status_code == 404
    own = two_companies["theirs"][0]
    assert client.get(reverse("accounts:detail", args=[own.pk])).status_code == 200
    client.force_login(collector)
    assert client.get(reverse("accounts:detail", args=[foreign.pk])).status_code == 200


def test_accounts_shared_with_a_company_are_visible_to_it(
    client, outsider, company, other_company, two_companies
):
    shared = AccountFactory(company=company, shared_with=[other_company])
    client.force_login(outsider)
    page = get_grid(client)
    assert sorted(page.pks) == sorted([a.pk for a in two_companies["theirs"]] + [shared.pk])
    assert page.total == 3
    assert client.get(reverse("accounts:detail", args=[shared.pk])).status_code == 200
    response = client.post(
        reverse("accounts:selection"),
        {"op": "toggle", "id": shared.pk, "checked": "1", "state": ""},
    )
    assert parse_counter(response.content.decode()) == (1, 3)


# --- permissions --------------------------------------------------------------------------


@pytest.fixture
def urls(company, collector):
    account = AccountFactory(company=company)
    saved = SavedListFactory(owner=collector)
    return [
        ("get", reverse("accounts:grid")),
        ("post", reverse("accounts:selection")),
        ("post", reverse("accounts:columns")),
        ("get", reverse("accounts:list-create")),
        ("post", reverse("accounts:list-create")),
        ("get", reverse("accounts:list-count")),
        ("get", reverse("accounts:list-open", args=[saved.pk])),
        ("get", reverse("accounts:list-edit", args=[saved.pk])),
        ("post", reverse("accounts:list-edit", args=[saved.pk])),
        ("post", reverse("accounts:list-delete", args=[saved.pk])),
        ("get", reverse("accounts:detail", args=[account.pk])),
    ]


def test_anonymous_is_sent_to_login_everywhere(client, urls):
    for method, url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 302, (method, url)
        assert response.url.startswith(reverse("login") + "?next="), (method, url)


def test_user_without_view_account_gets_403_everywhere(client, company, urls):
    nobody = UserFactory(company=company)  # no role
    assert not nobody.has_perm("accounts.view_account")
    client.force_login(nobody)
    for method, url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 403, (method, url)


@pytest.mark.parametrize("name", ["accounts:selection", "accounts:columns"])
def test_changes_require_post(client, collector, name):
    client.force_login(collector)
    assert client.get(reverse(name)).status_code == 405
    assert grid_preferences().filter(user=collector).count() == 0


def test_list_delete_requires_post(client, collector):
    saved = SavedListFactory(owner=collector)
    client.force_login(collector)
    assert client.get(reverse("accounts:list-delete", args=[saved.pk])).status_code == 405
    assert type(saved).objects.filter(pk=saved.pk).exists()


def test_every_role_may_open_the_grid(client, company):
    AccountFactory(company=company)
    for role in Group.objects.filter(name__in=["Collector", "Supervisor", "Admin"]):
        user = UserFactory(company=company, role=role.name)
        client.force_login(user)
        assert get_grid(client, full=True).total == 1


# --- number of queries ---------------------------------------------------------------------


def _busy_account(company, collector, flags, office):
    """An account whose every related row is its own (an N+1 shows)."""
    account = AccountFactory(
        company=company,
        debtor=DebtorFactory(state="NY"),
        status=AccountStatusFactory(),
        assigned_to=collector,
        office=office,
        default_date=dt.date(2024, 1, 1),
    )
    account.flags.add(*flags)
    return account


def test_grid_queries_do_not_grow_with_rows_or_columns(client, company, django_assert_num_queries):
    collectors = [UserFactory(company=company, role=COLLECTOR) for _ in range(3)]
    offices = [OfficeFactory(company=company) for _ in range(3)]
    flags = [FlagFactory() for _ in range(3)]
    for i in range(5):
        _busy_account(company, collectors[i % 3], flags[: i % 3 + 1], offices[i % 3])
    user = UserFactory(company=company, role=SUPERVISOR)
    client.force_login(user)
    url = reverse("accounts:grid")
    client.get(url)  # the first visit stores an empty selection in the session

    with CaptureQueriesContext(connection) as baseline:
        assert len(get_grid(client, full=True).rows) == 5
    expected = len(baseline.captured_queries)

    for i in range(55):
        extra = UserFactory(company=company, role=COLLECTOR)
        _busy_account(company, extra, flags[: i % 3 + 1], OfficeFactory(company=company))
    with django_assert_num_queries(expected):
        assert len(get_grid(client, full=True).rows) == 50
    with django_assert_num_queries(expected):
        assert len(get_grid(client, {"per_page": 100}, full=True).rows) == 60

    save_grid_columns(user=user, columns=list(GRID_COLUMNS))
    with django_assert_num_queries(expected):
        page = get_grid(client, {"per_page": 100}, full=True)
    assert len(page.rows) == 60
    assert page.headers == DEFAULT_LABELS + OPTIONAL_LABELS


def test_grid_queries_with_default_and_all_columns_are_equal(
    client, company, supervisor, django_assert_num_queries
):
    for _ in range(5):
        _busy_account(company, supervisor, [FlagFactory()], OfficeFactory(company=company))
    client.force_login(supervisor)
    client.get(reverse("accounts:grid"))
    with CaptureQueriesContext(connection) as baseline:
        assert get_grid(client, full=True).headers == DEFAULT_LABELS
    save_grid_columns(user=supervisor, columns=list(reversed(GRID_COLUMNS)))
    with django_assert_num_queries(len(baseline.captured_queries)):
        page = get_grid(client, full=True)
    assert page.headers == list(reversed(DEFAULT_LABELS + OPTIONAL_LABELS))
    assert len(page.rows) == 5
