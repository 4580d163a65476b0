"""The accounts grid in a real browser (Chromium through Playwright) against
``live_server``: filters in the URL, the selection counter, select all with
exclusions, saved lists shared with a colleague, the column chooser and bad
URL input. Every check is on what a person sees; htmx swaps are awaited with
``expect``, never with sleeps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account, AccountStatus, Debtor
from accounts.roles import SUPERVISOR
from tests.e2e.a11y import assert_accessible
from tests.e2e.waiting import wait_until
from tests.factories import (
    DEFAULT_PASSWORD,
    AccountFactory,
    AccountStatusFactory,
    ClientFactory,
    CompanyFactory,
    CreditorFactory,
    DebtorFactory,
    PortfolioFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.e2e,
    # WhiteNoise looks for collectstatic's output; live_server serves the finders.
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

# 70 accounts of the user's company: 40 Active, 20 Dispute, 10 Paid in full.
# Every fifth debtor is a "Smith"; the other company has Smiths too.
STATUS_PLAN = [("Active", 40), ("Dispute", 20), ("Paid in full", 10)]
OTHER_COMPANY_ACCOUNTS = 5
PAGE_SIZE = 50  # the grid's default


@dataclass
class GridData:
    supervisor: object
    colleague: object
    outsider: object
    statuses: dict[str, AccountStatus]
    rows: list[tuple[str, str]] = field(default_factory=list)  # (status, last name)
    other_file_numbers: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows)

    def count(self, status: str | None = None, last_name: str | None = None) -> int:
        return sum(
            1
            for s, name in self.rows
            if (status is None or s == status) and (last_name is None or name == last_name)
        )


def _bulk_accounts(*, company, portfolios, creditors, plan, file_prefix):
    """Accounts built by the factories but inserted with two bulk INSERTs."""
    specs = []
    for status, how_many in plan:
        specs += [status] * how_many
    debtors = Debtor.objects.bulk_create(
        [DebtorFactory.build(last_name="Smith" if i % 5 == 0 else "Doe") for i in range(len(specs))]
    )
    accounts = [
        AccountFactory.build(
            company=company,
            file_number=f"{file_prefix}{i:06d}",
            portfolio=portfolios[i % len(portfolios)],
            creditor=creditors[i % len(creditors)],
            debtor=debtors[i],
            status=status,
        )
        for i, status in enumerate(specs)
    ]
    Account.objects.bulk_create(accounts)
    return [(status.name, debtor.last_name) for status, debtor in zip(specs, debtors, strict=True)]


@pytest.fixture
def grid_data(roles) -> GridData:
    company = CompanyFactory(name="Acme Recovery")
    other = CompanyFactory(name="Other Agency")
    supervisor = UserFactory(
        username="sue", first_name="Sue", last_name="Pervisor", company=company, role=SUPERVISOR
    )
    colleague = UserFactory(
        username="carl", first_name="Carl", last_name="Colleague", company=company, role=SUPERVISOR
    )
    outsider = UserFactory(
        username="olga", first_name="Olga", last_name="Outsider", company=other, role=SUPERVISOR
    )
    statuses = {
        name: AccountStatusFactory(name=name, sort_order=order)
        for order, (name, _) in enumerate(STATUS_PLAN, start=1)
    }
    northwind = ClientFactory(name="Northwind Bank")
    contoso = ClientFactory(name="Contoso Card")
    portfolios = [
        PortfolioFactory(client=northwind, name="Northwind 2024"),
        PortfolioFactory(client=contoso, name="Contoso 2023"),
    ]
    creditors = [CreditorFactory(name="First Creditor Co"), CreditorFactory(name="Second Lender")]
    data = GridData(supervisor, colleague, outsider, statuses)
    data.rows = _bulk_accounts(
        company=company,
        portfolios=portfolios,
        creditors=creditors,
        plan=[(statuses[name], n) for name, n in STATUS_PLAN],
        file_prefix="F1",
    )
    # Another tenant's accounts, same statuses and debtor names: never shown.
    _bulk_accounts(
        company=other,
        portfolios=portfolios,
        creditors=creditors,
        plan=[(statuses["Active"], OTHER_COMPANY_ACCOUNTS)],
        file_prefix="F9",
    )
    data.other_file_numbers = [f"F9{i:06d}" for i in range(OTHER_COMPANY_ACCOUNTS)]
    return data


class Watcher:
    """Collects what would show up red in the browser's developer tools."""

    def __init__(self, page: Page):
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("response", self._response)

    def _console(self, message):
        if message.type == "error" and "favicon" not in (message.location or {}).get("url", ""):
            self.problems.append(f"console {message.type}: {message.text}")

    def _response(self, response):
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.problems.append(f"HTTP {response.status} {response.request.method} {response.url}")

    def assert_clean(self):
        assert self.problems == []


def log_in(page: Page, base_url: str, user, path: str = "/accounts/") -> Watcher:
    watcher = Watcher(page)
    page.goto(base_url + path)
    expect(page).to_have_url(re.compile(r"/login/"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + r"$"))
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    # The page's deferred scripts (grid.js binds the checkboxes) have run by
    # DOMContentLoaded; a box ticked before that would go unheard.
    page.wait_for_load_state("domcontentloaded")
    return watcher


def counter(page: Page):
    return page.get_by_test_id("selection-counter")


def rows(page: Page):
    return page.locator("#accounts-table tbody tr[data-account]")


def row_boxes(page: Page):
    return page.locator("#accounts-table tbody input.row-select")


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def header_texts(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("#accounts-table thead th").all_inner_texts()]


def assert_no_other_company(page: Page, data: GridData):
    table = page.locator("#accounts-table")
    for file_number in data.other_file_numbers:
        expect(table).not_to_contain_text(file_number)


def filters(page: Page):
    return page.get_by_role("form", name="Filters")


def apply_status(page: Page, status: str):
    details = filters(page).locator("details")
    if details.get_attribute("open") is None:
        details.locator("summary", has_text="More filters").click()
    filters(page).get_by_label("Status", exact=True).select_option(label=status)
    filters(page).get_by_role("button", name="Apply filters").click()


# --- 1. filters -----------------------------------------------------------------------


def test_filters_live_in_the_url_and_back_returns_to_the_previous_result(
    live_server, page, grid_data
):
    data = grid_data
    watcher = log_in(page, live_server.url, data.supervisor)
    expect(counter(page)).to_have_text(f"0 selected of {data.total}")
    expect(rows(page)).to_have_count(PAGE_SIZE)
    assert_no_other_company(page, data)
    assert_accessible(page, "the accounts grid")

    # A status from "More filters": the URL carries it, only Dispute rows show.
    apply_status(page, "Dispute")
    disputes = data.count(status="Dispute")
    expect(counter(page)).to_have_text(f"0 selected of {disputes}")
    expect(page).to_have_url(re.compile(r"[?&]status=\d+"))
    assert query_of(page)["status"] == [str(data.statuses["Dispute"].pk)]
    expect(rows(page)).to_have_count(disputes)
    for text in rows(page).all_inner_texts():
        assert "Dispute" in text
    assert_accessible(page, "the grid filtered, More filters open")

    # Narrow further with the search box.
    filters(page).get_by_label("Search").fill("Smith")
    filters(page).get_by_role("button", name="Apply filters").click()
    smiths = data.count(status="Dispute", last_name="Smith")
    expect(counter(page)).to_have_text(f"0 selected of {smiths}")
    expect(page).to_have_url(re.compile(r"[?&]q=Smith"))
    expect(rows(page)).to_have_count(smiths)
    for text in rows(page).all_inner_texts():
        assert "Dispute" in text and "Smith" in text
    assert_no_other_company(page, data)  # the other company has Smiths too

    # Back: the previous result (status only), then the unfiltered grid; the
    # filter form shows the filters of the result, so "Apply" keeps them.
    page.go_back()
    expect(counter(page)).to_have_text(f"0 selected of {disputes}")
    expect(rows(page)).to_have_count(disputes)
    assert "q" not in query_of(page)
    assert query_of(page)["status"] == [str(data.statuses["Dispute"].pk)]
    expect(filters(page).get_by_label("Search")).to_have_value("")
    expect(filters(page).get_by_label("Status", exact=True)).to_have_values(
        [str(data.statuses["Dispute"].pk)]
    )

    page.go_back()
    expect(counter(page)).to_have_text(f"0 selected of {data.total}")
    expect(rows(page)).to_have_count(PAGE_SIZE)
    assert "status" not in query_of(page)
    expect(filters(page).get_by_label("Status", exact=True)).to_have_values([])

    # Forward again, then "Apply filters" as shown: still the Dispute result.
    page.go_forward()
    expect(counter(page)).to_have_text(f"0 selected of {disputes}")
    filters(page).get_by_role("button", name="Apply filters").click()
    expect(counter(page)).to_have_text(f"0 selected of {disputes}")
    expect(rows(page)).to_have_count(disputes)
    watcher.assert_clean()


def test_back_after_the_filters_changed_shows_the_true_selection(live_server, page, grid_data):
    """Back used to show htmx's snapshot: a stale "3 selected" while the server
    had cleared the selection, and grid.js bound twice (two POSTs a click)."""
    data = grid_data
    watcher = log_in(page, live_server.url, data.supervisor)
    selection_posts = []
    page.on(
        "request",
        lambda r: (
            selection_posts.append(r.url)
            if r.method == "POST" and r.url.endswith("/accounts/selection/")
            else None
        ),
    )
    for n in range(1, 4):
        row_boxes(page).nth(n - 1).check()
        expect(counter(page)).to_have_text(f"{n} selected of {data.total}")
    apply_status(page, "Dispute")
    expect(page.get_by_test_id("grid-notice")).to_have_text(
        "The filters changed, so the previous selection was cleared."
    )
    expect(counter(page)).to_have_text(f"0 selected of {data.count(status='Dispute')}")

    page.go_back()
    expect(counter(page)).to_have_text(f"0 selected of {data.total}")
    expect(page.locator("#accounts-table tbody input.row-select:checked")).to_have_count(0)
    selection_posts.clear()
    row_boxes(page).first.check()
    expect(counter(page)).to_have_text(f"1 selected of {data.total}")
    page.reload()
    expect(counter(page)).to_have_text(f"1 selected of {data.total}")
    assert len(selection_posts) == 1, selection_posts

    # The page size is in the URL too, and Back undoes it.
    page.locator("[data-page-size]").select_option("25")
    expect(rows(page)).to_have_count(25)
    expect(page).to_have_url(re.compile(r"[?&]per_page=25"))
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"per_page=25"))
    expect(rows(page)).to_have_count(PAGE_SIZE)
    expect(page.locator("[data-page-size]")).to_have_value(str(PAGE_SIZE))
    watcher.assert_clean()


# --- 2. picking rows --------------------------------------------------------------------


def test_picked_rows_count_up_and_survive_a_reload(live_server, page, grid_data):
    data = grid_data
    watcher = log_in(page, live_server.url, data.supervisor)
    toolbar = page.get_by_role("toolbar", name="Bulk actions")
    expect(toolbar).to_have_count(1)  # empty (and so zero-sized) while no action is registered
    # The actions themselves (menus of them, once there are many, stay openable).
    buttons = toolbar.locator("[data-bulk-action]")
    for i in range(buttons.count()):
        expect(buttons.nth(i)).to_be_disabled()

    expect(counter(page)).to_have_text(f"0 selected of {data.total}")
    picked = []
    for n in range(1, 4):
        box = row_boxes(page).nth(n - 1)
        picked.append(box.get_attribute("value"))
        box.check()
        expect(counter(page)).to_have_text(f"{n} selected of {data.total}")

    # Registered actions the user may use are enabled now (the registry may be empty).
    toolbar = page.get_by_role("toolbar", name="Bulk actions")
    buttons = toolbar.locator("[data-bulk-action]")
    for i in range(buttons.count()):
        if buttons.nth(i).get_attribute("title") is None:  # not a permission-disabled one
            expect(buttons.nth(i)).to_be_enabled()
    assert_accessible(page, "the grid with a selection")

    def assert_picked(p: Page):
        expect(counter(p)).to_have_text(f"3 selected of {data.total}")
        expect(p.locator("#accounts-table tbody input.row-select:checked")).to_have_count(3)
        for value in picked:
            expect(p.locator(f"input.row-select[value='{value}']")).to_be_checked()

    page.reload()
    assert_picked(page)
    # A fresh tab (no form-state restoration by the browser) shows the same.
    fresh = page.context.new_page()
    fresh_watcher = Watcher(fresh)
    fresh.goto(page.url)
    assert_picked(fresh)
    fresh.close()

    # Unpicking counts down.
    page.locator(f"input.row-select[value='{picked[1]}']").uncheck()
    expect(counter(page)).to_have_text(f"2 selected of {data.total}")
    watcher.assert_clean()
    fresh_watcher.assert_clean()


# --- 3. select all matching ------------------------------------------------------------


def test_select_all_matching_with_an_exclusion_across_pages_and_reload(
    live_server, page, grid_data
):
    data = grid_data
    active = data.count(status="Active")
    assert active > 25
    path = f"/accounts/?status={data.statuses['Active'].pk}&per_page=25"
    watcher = log_in(page, live_server.url, data.supervisor, path="/accounts/")
    page.goto(live_server.url + path)
    expect(counter(page)).to_have_text(f"0 selected of {active}")
    expect(rows(page)).to_have_count(25)

    page.locator("#select-all").check()
    expect(counter(page)).to_have_text(f"{active} selected of {active}")
    expect(page.get_by_test_id("select-all-badge")).to_have_text("All matching")
    expect(page.locator("#select-all")).to_be_checked()
    expect(page.locator("#accounts-table tbody input.row-select:checked")).to_have_count(25)

    excluded = row_boxes(page).first.get_attribute("value")
    row_boxes(page).first.uncheck()
    expect(counter(page)).to_have_text(f"{active - 1} selected of {active}")
    expect(page.get_by_test_id("select-all-badge")).to_have_text("All matching, 1 excluded")

    pages = page.get_by_role("navigation", name="Pages")
    pages.get_by_role("link", name="Next").click()
    expect(pages).to_contain_text("Page 2 of 2")
    expect(rows(page)).to_have_count(active - 25)
    expect(page.locator("#accounts-table tbody input.row-select:not(:checked)")).to_have_count(0)
    expect(counter(page)).to_have_text(f"{active - 1} selected of {active}")

    pages.get_by_role("link", name="Previous").click()
    expect(pages).to_contain_text("Page 1 of 2")
    expect(page.locator(f"input.row-select[value='{excluded}']")).not_to_be_checked()
    expect(counter(page)).to_have_text(f"{active - 1} selected of {active}")

    page.reload()
    expect(counter(page)).to_have_text(f"{active - 1} selected of {active}")
    expect(page.get_by_test_id("select-all-badge")).to_have_text("All matching, 1 excluded")
    expect(page.locator(f"input.row-select[value='{excluded}']")).not_to_be_checked()
    expect(page.locator("#accounts-table tbody input.row-select:checked")).to_have_count(24)

    # Other filters: the selection is dropped, and the user is told so.
    apply_status(page, "Dispute")
    disputes = data.count(status="Dispute")
    expect(counter(page)).to_have_text(f"0 selected of {disputes}")
    expect(page.get_by_test_id("grid-notice")).to_have_text(
        "The filters changed, so the previous selection was cleared."
    )
    expect(page.get_by_test_id("select-all-badge")).to_have_count(0)
    expect(page.locator("#select-all")).not_to_be_checked()
    expect(page.locator("#accounts-table tbody input.row-select:checked")).to_have_count(0)
    assert query_of(page)["per_page"] == ["25"]
    watcher.assert_clean()


# --- 4. saved lists ------------------------------------------------------------------------


def test_saved_list_is_built_opened_selected_and_shared(live_server, page, browser, grid_data):
    data = grid_data
    watcher = log_in(page, live_server.url, data.supervisor)
    page.get_by_role("button", name="Lists").click()
    page.get_by_role("link", name="New List").click()
    expect(page.get_by_role("heading", name="New List")).to_be_visible()

    count = page.get_by_test_id("list-count")
    expect(count).to_have_text(f"{data.total} accounts found")
    page.get_by_label("List Name").fill("Disputes to review")
    available = page.locator(".list-filters")  # "Available Filters"
    available.get_by_label("Status", exact=True).select_option(label="Dispute")
    disputes = data.count(status="Dispute")
    expect(count).to_have_text(f"{disputes} accounts found")

    share = page.get_by_label("Share With: users")
    options = share.locator("option").all_inner_texts()
    assert str(data.colleague) in options
    assert str(data.outsider) not in options  # another company's user
    assert str(data.supervisor) not in options  # not with oneself
    share.select_option(label=str(data.colleague))
    assert_accessible(page, "the saved-list builder")
    page.get_by_role("button", name="Save List").click()

    bar = page.get_by_test_id("saved-list-bar")
    expect(bar).to_contain_text("List: Disputes to review")
    expect(page).to_have_url(re.compile(r"[?&]list=\d+"))
    assert query_of(page)["status"] == [str(data.statuses["Dispute"].pk)]
    expect(bar.get_by_role("link", name="Edit list")).to_be_visible()
    expect(counter(page)).to_have_text(f"0 selected of {disputes}")
    # "With Selected" keeps the rows ticked before it (it used to clear them).
    picked = [row_boxes(page).nth(i).get_attribute("value") for i in (0, 2)]
    for n, value in enumerate(picked, start=1):
        page.locator(f"input.row-select[value='{value}']").check()
        expect(counter(page)).to_have_text(f"{n} selected of {disputes}")
    # The grid answers with a new #grid: wait until the old one is gone.
    before = page.locator("[data-grid]").element_handle()
    bar.get_by_role("button", name="With Selected").click()
    wait_until(page, "grid => !grid.isConnected", before)
    expect(page.get_by_test_id("grid-notice")).to_have_count(0)
    expect(counter(page)).to_have_text(f"2 selected of {disputes}")
    expect(page.locator("#accounts-table tbody input.row-select:checked")).to_have_count(2)
    for value in picked:
        expect(page.locator(f"input.row-select[value='{value}']")).to_be_checked()
    assert_accessible(page, "a saved list on the grid, two rows picked")
    bar.get_by_role("button", name="With List").click()
    expect(counter(page)).to_have_text(f"{disputes} selected of {disputes}")
    expect(page.get_by_test_id("select-all-badge")).to_have_text("All matching")
    watcher.assert_clean()

    # The colleague, in a browser of their own, finds it in their Lists menu.
    context = browser.new_context()
    context.set_default_timeout(15_000)
    try:
        other_page = context.new_page()
        other_watcher = log_in(other_page, live_server.url, data.colleague)
        other_page.get_by_role("button", name="Lists").click()
        menu = other_page.get_by_role("list", name="Saved lists")
        entry = menu.get_by_role("link", name=re.compile(r"^Disputes to review"))
        expect(entry).to_contain_text(f"shared by {data.supervisor}")
        assert_accessible(other_page, "the Lists menu with a shared list")
        entry.click()
        bar = other_page.get_by_test_id("saved-list-bar")
        expect(bar).to_contain_text("List: Disputes to review")
        expect(bar).to_contain_text(f"Shared by {data.supervisor}")
        expect(bar.get_by_role("link", name="Edit list")).to_have_count(0)
        expect(counter(other_page)).to_have_text(f"0 selected of {disputes}")
        expect(rows(other_page)).to_have_count(disputes)
        other_watcher.assert_clean()
    finally:
        context.close()


def shown_fields(page: Page) -> list[str]:
    """The builder's "Show Fields on List", in order (the labels)."""
    return [
        t.strip() for t in page.get_by_test_id("fields-shown").locator("label").all_inner_texts()
    ]


def column_labels(page: Page) -> list[str]:
    """The grid's column headers after the select-all box, without the sort arrow."""
    return [t.rstrip("▲▼ ").strip() for t in header_texts(page)[1:]]


def test_saved_list_with_fields_in_order_and_my_accounts(live_server, page, browser, grid_data):
    """Show Fields on List reordered by dragging and with Earlier (by the
    keyboard), What Contacts = My Accounts; the grid shows the columns in
    that order and only the accounts of whoever opens the list."""
    data = grid_data
    ours = Account.objects.filter(file_number__startswith="F1").order_by("file_number")
    mine = [a.pk for a in ours.filter(status=data.statuses["Dispute"])[:7]]
    theirs = [a.pk for a in ours.filter(status=data.statuses["Active"])[:4]]
    Account.objects.filter(pk__in=mine).update(assigned_to=data.supervisor)
    Account.objects.filter(pk__in=theirs).update(assigned_to=data.colleague)
    watcher = log_in(page, live_server.url, data.supervisor)
    page.get_by_role("button", name="Lists").click()
    page.get_by_role("link", name="New List").click()
    expect(page.get_by_role("heading", name="New List")).to_be_visible()
    page.get_by_label("List Name").fill("My disputes")

    count = page.get_by_test_id("list-count")
    expect(count).to_have_text(f"{data.total} accounts found")
    page.get_by_label("What Contacts").select_option(label="My Accounts")
    expect(count).to_have_text("7 accounts found")

    # The seed's two lists, "Available Fields to Show" first; a new list
    # starts with the columns its owner sees on the grid.
    headings = page.locator("[data-list-fields] h3").all_inner_texts()
    assert headings == ["Available Fields to Show", "Show Fields on List"]
    assert shown_fields(page) == [
        "File Number", "Client", "Portfolio", "Account",
        "Debtor", "Status", "Current Balance", "Assigned To",
    ]  # fmt: skip
    shown = page.get_by_test_id("fields-shown")
    available = page.get_by_test_id("fields-available")
    for label in ("Client", "Portfolio", "Account", "Status", "Assigned To"):
        shown.get_by_label(label, exact=True).uncheck()
    expect(available.get_by_label("Client", exact=True)).not_to_be_checked()
    available.get_by_label("State", exact=True).check()  # to the end of the list
    expect(shown.get_by_label("State", exact=True)).to_be_checked()
    assert shown_fields(page) == ["File Number", "Debtor", "Current Balance", "State"]
    # Available in the catalogue's order, Client back at the top.
    assert available.locator("label").first.inner_text().strip() == "Client"
    # Earlier / Later only where they mean something.
    expect(available.get_by_role("button", name="Earlier (Client)")).to_be_hidden()

    # Drag Current Balance by its handle onto the top of File Number.
    balance = shown.locator("li", has_text="Current Balance")
    shown.scroll_into_view_if_needed()  # both ends of the drag on the screen
    balance.locator(".field-handle").drag_to(
        shown.locator("li", has_text="File Number"), target_position={"x": 40, "y": 4}
    )
    expect(shown.locator("li").first).to_contain_text("Current Balance")
    assert shown_fields(page) == ["Current Balance", "File Number", "Debtor", "State"]
    # State one place earlier, from the keyboard; the focus stays on the button.
    earlier = shown.get_by_role("button", name="Earlier (State)")
    earlier.focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-fields-status]")).to_have_text("State: 3 of 4 on the list.")
    assert shown_fields(page) == ["Current Balance", "File Number", "State", "Debtor"]
    expect(earlier).to_be_focused()
    share = page.get_by_label("Share With: users")
    share.select_option(label=str(data.colleague))
    assert_accessible(page, "the list builder, fields reordered")
    page.get_by_role("button", name="Save List").click()

    bar = page.get_by_test_id("saved-list-bar")
    expect(bar).to_contain_text("List: My disputes (My Accounts)")
    assert column_labels(page) == ["Current Balance", "File Number", "State", "Debtor"]
    expect(rows(page)).to_have_count(7)
    assert sorted(int(v) for v in rows(page).evaluate_all(
        "rows => rows.map(r => r.dataset.account)"
    )) == sorted(mine)  # fmt: skip
    expect(counter(page)).to_have_text("0 selected of 7")
    bar.get_by_role("button", name="With List").click()
    expect(counter(page)).to_have_text("7 selected of 7")
    # Edit list draws the fields as saved.
    bar.get_by_role("link", name="Edit list").click()
    expect(page.get_by_label("What Contacts")).to_have_value("mine")
    assert shown_fields(page) == ["Current Balance", "File Number", "State", "Debtor"]
    watcher.assert_clean()

    # The colleague it is shared with sees their own accounts in it.
    context = browser.new_context()
    context.set_default_timeout(15_000)
    try:
        other_page = context.new_page()
        other_watcher = log_in(other_page, live_server.url, data.colleague)
        other_page.get_by_role("button", name="Lists").click()
        other_page.get_by_role("list", name="Saved lists").get_by_role(
            "link", name=re.compile(r"^My disputes")
        ).click()
        expect(other_page.get_by_test_id("saved-list-bar")).to_contain_text("List: My disputes")
        expect(counter(other_page)).to_have_text("0 selected of 4")
        expect(rows(other_page)).to_have_count(4)
        assert column_labels(other_page) == ["Current Balance", "File Number", "State", "Debtor"]
        other_watcher.assert_clean()
    finally:
        context.close()

    # Without JavaScript: the shown fields first, in order, as plain boxes;
    # a box ticked among the others comes last.
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(15_000)
    try:
        plain = context.new_page()
        log_in(plain, live_server.url, data.supervisor)
        plain.get_by_role("button", name="Lists").click()  # no menu without Bootstrap's script,
        # but the links are there (hidden: no role query finds them)
        saved = plain.locator("ul[aria-label='Saved lists'] a", has_text="My disputes")
        plain.goto(live_server.url + saved.get_attribute("href"))
        plain.get_by_role("link", name="Edit list").click()
        headings = plain.locator("[data-list-fields] h3").all_inner_texts()
        assert headings == ["Show Fields on List", "Available Fields to Show"]
        expect(plain.get_by_role("button", name=re.compile("^Earlier"))).to_have_count(0)
        assert shown_fields(plain) == ["Current Balance", "File Number", "State", "Debtor"]
        plain.get_by_test_id("fields-shown").get_by_label("State", exact=True).uncheck()
        plain.get_by_test_id("fields-available").get_by_label("Stage", exact=True).check()
        plain.get_by_role("button", name="Save List").click()
        expect(plain.get_by_test_id("saved-list-bar")).to_contain_text("List: My disputes")
        assert column_labels(plain) == ["Current Balance", "File Number", "Debtor", "Stage"]
    finally:
        context.close()


# --- 5. columns -------------------------------------------------------------------------------


def test_column_chooser_saves_the_columns(live_server, page, grid_data):
    data = grid_data
    watcher = log_in(page, live_server.url, data.supervisor)
    assert "Portfolio" in header_texts(page)
    assert "Creditor" not in header_texts(page)

    page.get_by_role("button", name="Columns").click()
    chooser = page.get_by_role("form", name="Choose columns")
    expect(chooser).to_be_visible()
    assert_accessible(page, "the Columns menu")
    chooser.get_by_label("Creditor", exact=True).check()
    chooser.get_by_label("Portfolio", exact=True).uncheck()
    chooser.get_by_role("button", name="Save columns").click()

    expect(page.get_by_role("alert")).to_have_text("Columns saved.")
    headers = page.locator("#accounts-table thead")
    expect(headers).to_contain_text("Creditor")
    assert "Creditor" in header_texts(page)
    assert "Portfolio" not in header_texts(page)
    expect(rows(page).first).to_contain_text("First Creditor Co")

    page.reload()
    expect(headers).to_contain_text("Creditor")
    assert "Creditor" in header_texts(page)
    assert "Portfolio" not in header_texts(page)
    watcher.assert_clean()


# --- 6. bad URL input ---------------------------------------------------------------------------


def test_bad_url_input_shows_notices_not_an_error_page(live_server, page, grid_data):
    data = grid_data
    watcher = log_in(page, live_server.url, data.supervisor)
    response = page.goto(
        live_server.url
        + "/accounts/?balance_min=500&balance_max=100&sort=bogus&page=999&per_page=7"
    )
    assert response.status == 200
    last_page = -(-data.total // PAGE_SIZE)
    notices = page.get_by_test_id("grid-notice")
    expect(notices).to_have_count(4)
    text = " ".join(notices.all_inner_texts())
    assert "Current Balance: the end of the range is before its start." in text
    assert "Cannot sort by “bogus”" in text
    assert f"There is no page 999; showing the last page, {last_page}." in text
    assert "Page size must be one of" in text
    # The reversed range is ignored: every account, on the last page.
    expect(counter(page)).to_have_text(f"0 selected of {data.total}")
    pages = page.get_by_role("navigation", name="Pages")
    expect(pages).to_contain_text(f"Page {last_page} of {last_page}")
    expect(rows(page)).to_have_count(data.total - PAGE_SIZE * (last_page - 1))
    assert_accessible(page, "the grid with notices, on its last page")
    watcher.assert_clean()


# --- 7. "More filters" -------------------------------------------------------------------------


def test_more_filters_is_open_for_a_date_or_days_since_default_filter(live_server, page, grid_data):
    """It stayed closed when only these were set, hiding the active filters."""
    data = grid_data
    watcher = log_in(page, live_server.url, data.supervisor)
    details = filters(page).locator("details")
    expect(details).not_to_have_attribute("open", re.compile(".*"))  # no filter yet

    # Nobody defaulted a century ago: no account matches.
    page.goto(live_server.url + "/accounts/?days_since_default_min=36000")
    expect(counter(page)).to_have_text("0 selected of 0")
    expect(page.locator("#accounts-table tbody")).to_have_text("No accounts match these filters.")
    expect(details).to_have_attribute("open", "")
    more = filters(page).get_by_label("Days since default from")
    expect(more).to_be_visible()
    expect(more).to_have_value("36000")
    assert_accessible(page, "the empty grid, More filters open")

    page.goto(live_server.url + "/accounts/?last_payment_before=2000-01-01")
    expect(details).to_have_attribute("open", "")
    expect(filters(page).get_by_label("Last payment to")).to_be_visible()

    # The filters beside the search box do not open it.
    filters(page).get_by_role("link", name="Clear filters").click()
    expect(counter(page)).to_have_text(f"0 selected of {data.total}")
    page.goto(live_server.url + "/accounts/?stage=pending")
    expect(details).not_to_have_attribute("open", re.compile(".*"))
    watcher.assert_clean()


# --- 8. the home page and an account's page ---------------------------------------------------


def test_home_and_an_accounts_page(live_server, page, grid_data):
    data = grid_data
    watcher = log_in(page, live_server.url, data.supervisor)
    first = rows(page).first
    file_number = first.locator("td").nth(1).inner_text().strip()
    first.get_by_role("link", name=file_number).click()
    expect(page).to_have_url(re.compile(r"/accounts/\d+/$"))
    expect(page.get_by_text(f"Debtor reference {file_number}")).to_be_visible()
    assert_accessible(page, "an account's page")

    page.get_by_role("link", name="Collections", exact=True).click()
    expect(
        page.get_by_role("heading", name=f"Welcome, {data.supervisor.get_full_name()}")
    ).to_be_visible()
    expect(page.get_by_test_id("accounts-count")).to_have_text(str(data.total))
    assert_accessible(page, "the home page")
    watcher.assert_clean()


def test_select_from_file_selects_the_files_accounts(live_server, page, grid_data):
    """A CSV of file numbers (one of them another company's, one unknown)
    selects exactly the user's accounts it names; "Remove file" goes back."""
    data = grid_data
    watcher = log_in(page, live_server.url, data.supervisor)
    mine = ["F1000003", "f1000007", "F1000011"]
    csv_text = "File Number,Note\n" + "\n".join(
        f"{n},x" for n in [*mine, data.other_file_numbers[0], "F7777777"]
    )

    page.get_by_role("button", name="Select from file").click()
    menu = page.get_by_role("form", name="Select from file")
    expect(menu).to_be_visible()
    assert_accessible(page, "the Select from file menu")
    menu.get_by_label("CSV of File Numbers").set_input_files(
        {"name": "to-call.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}
    )
    menu.get_by_role("button", name="Upload and select").click()

    expect(page.get_by_role("alert")).to_contain_text(
        "“to-call.csv”: 5 File Numbers read, 3 accounts found and selected."
    )
    expect(page.get_by_role("alert")).to_contain_text("Not found or not yours (2): line 5")
    expect(page.get_by_test_id("selection-file")).to_contain_text("From file “to-call.csv”: 3")
    expect(counter(page)).to_have_text("3 selected of 3")
    expect(rows(page)).to_have_count(3)
    expect(page.locator("#accounts-table tbody input.row-select:checked")).to_have_count(3)
    assert_no_other_company(page, data)
    assert_accessible(page, "the grid showing a file's accounts")

    # Another filter keeps the file; removing the file shows every account.
    apply_status(page, "Active")
    # The filtered page has come (its URL has the status) before "Remove file"
    # is clicked: the count alone ("of 3") was already true before it.
    expect(page).to_have_url(re.compile(r"[?&]status="))
    expect(page.get_by_test_id("selection-file")).to_be_visible()
    expect(counter(page)).to_contain_text(f"of {min(3, data.count('Active'))}")
    page.get_by_role("link", name="Remove file").click()
    expect(page.get_by_test_id("selection-file")).to_have_count(0)
    expect(counter(page)).to_contain_text(f"of {data.count('Active')}")
    watcher.assert_clean()
