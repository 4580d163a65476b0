"""The pages under the Content-Security-Policy in a real browser: login, the
accounts grid (filter, select, a bulk dialog), an operation's progress bar,
the audit log, the lockout page and the Django admin. Each response carries
the header, and no violation is reported (the ``page`` fixture fails any test
during which the browser reports one; the first test shows that it does)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import SavedList
from accounts.roles import ADMIN
from bulkops.models import BulkOperation
from tests.e2e import test_bulk_browser
from tests.e2e.a11y import Known, assert_accessible
from tests.e2e.test_bulk_browser import ACTIVE, add_assignment, open_dialog
from tests.e2e.test_grid_browser import apply_status, counter, log_in, row_boxes
from tests.e2e.waiting import wait_until
from tests.factories import (
    DEFAULT_PASSWORD,
    BulkOperationFactory,
    FlagFactory,
    SavedListFactory,
    UserFactory,
)
from tests.test_csp import EXPECTED

bulk_data = test_bulk_browser.bulk_data  # the fixture: a supervisor, collectors, 50 accounts

pytestmark = [
    pytest.mark.e2e,
    # WhiteNoise looks for collectstatic's output; live_server serves the finders.
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


def policy_of(response) -> dict[str, list[str]]:
    header = response.headers.get("content-security-policy")
    assert header, f"no Content-Security-Policy on {response.url}"
    return {name: sources for name, *sources in (part.split() for part in header.split(";"))}


class Headers:
    """Every document the page loads must carry the policy."""

    def __init__(self, page: Page):
        self.missing: list[str] = []
        self.documents = 0
        page.on("response", self._response)

    def _response(self, response):
        if response.request.resource_type == "document":
            self.documents += 1
            if policy_of_or_none(response) != EXPECTED:
                self.missing.append(response.url)

    def assert_all_had_it(self):
        assert self.documents > 0
        assert self.missing == []


def policy_of_or_none(response):
    try:
        return policy_of(response)
    except AssertionError:
        return None


def test_the_watch_catches_violations(live_server, page, csp_watch):
    """The check every browser test relies on: an inline style and an inline
    script, added to a page, are blocked and reported."""
    page.goto(live_server.url + "/login/")
    page.evaluate(
        """() => {
          document.body.insertAdjacentHTML("beforeend", '<p style="color: red">styled</p>');
          const script = document.createElement("script");
          script.textContent = "window.inlineRan = true";
          document.body.appendChild(script);
        }"""
    )
    wait_until(page, "() => window.__cspViolations.length >= 2")
    assert page.evaluate("window.inlineRan") is None  # blocked, not run
    page.context.close()  # reads what the page holds, as at the end of every test
    seen = " ".join(csp_watch.violations)
    assert "style-src-attr" in seen and "script-src-elem" in seen, csp_watch.violations
    csp_watch.violations.clear()  # expected here: do not fail this test


def bar_fraction(page: Page) -> float:
    return page.get_by_test_id("progress-bar").evaluate(
        "bar => bar.getBoundingClientRect().width / bar.parentElement.getBoundingClientRect().width"
    )


def wait_for_bar(page: Page, fraction: float):
    wait_until(
        page,
        """fraction => {
          const bar = document.querySelector("[data-testid=progress-bar]");
          if (!bar) return false;
          const whole = bar.parentElement.getBoundingClientRect().width;
          return Math.abs(bar.getBoundingClientRect().width / whole - fraction) < 0.01;
        }""",
        fraction,
    )


def test_the_app_works_under_the_policy(live_server, page, bulk_data):
    data = bulk_data
    FlagFactory(name="Hardship")
    headers = Headers(page)

    # A wrong password first (it shows in the audit log below), then the login.
    response = page.goto(live_server.url + "/login/")
    assert policy_of(response) == EXPECTED
    page.get_by_label("Username").fill(data.supervisor.username)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    assert_accessible(page, "the login page with its error")
    watcher = log_in(page, live_server.url, data.supervisor)

    # The grid: a filter (htmx), a row picked, the column chooser (Bootstrap).
    apply_status(page, "Active")
    expect(counter(page)).to_have_text(f"0 selected of {ACTIVE}")
    row_boxes(page).first.check()
    expect(counter(page)).to_have_text(f"1 selected of {ACTIVE}")
    page.get_by_role("button", name="Columns", exact=True).click()
    chooser = page.get_by_role("form", name="Choose columns")
    expect(chooser).to_be_visible()
    assert chooser.evaluate("f => getComputedStyle(f).minWidth") == "256px"  # app.css, 16rem
    page.get_by_role("button", name="Columns", exact=True).click()
    expect(chooser).to_be_hidden()

    # A bulk dialog (htmx loads it, Bootstrap shows it, bulk.js fills its table).
    dialog = open_dialog(page, "Assign To")
    expect(dialog.get_by_test_id("dialog-count")).to_have_text("This will apply to 1 account.")
    add_assignment(dialog, data.cora, 1)
    expect(dialog.get_by_role("table", name="Assignment list").locator("tbody tr")).to_have_count(1)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    flags = open_dialog(page, "Add/Remove Flags")
    box = flags.locator(".scroll-box").first  # app.css, where a style attribute was
    expect(box).to_have_css("overflow-y", "auto")
    expect(box).to_have_css("max-height", "192px")  # 12rem
    expect(box.get_by_label("Hardship")).to_be_visible()
    assert_accessible(page, "the Add/Remove Flags dialog")
    flags.get_by_role("button", name="Cancel").click()
    expect(flags).to_be_hidden()
    stage = open_dialog(page, "Update Stage")
    expect(stage.get_by_test_id("dialog-count")).to_have_text("This will apply to 1 account.")
    assert_accessible(page, "the Update Stage dialog")
    stage.get_by_role("button", name="Cancel").click()
    expect(stage).to_be_hidden()

    # An operation's page: the bar is as wide as its percentage, and follows
    # the polls (the width is set by app.js from data-progress-percent).
    operation = BulkOperationFactory(
        created_by=data.supervisor,
        status=BulkOperation.Status.RUNNING,
        total=4,
        processed=1,
        succeeded=1,
        started_at=timezone.now(),
    )
    page.goto(live_server.url + reverse("bulkops:operation-detail", args=[operation.pk]))
    expect(page.get_by_test_id("progress-bar")).to_have_text("25 %")
    wait_for_bar(page, 0.25)
    assert page.locator(".progress").evaluate("p => p.getBoundingClientRect().height") == 24
    BulkOperation.objects.filter(pk=operation.pk).update(processed=3, succeeded=3)
    expect(page.get_by_test_id("progress-bar")).to_have_text("75 %")
    wait_for_bar(page, 0.75)
    BulkOperation.objects.filter(pk=operation.pk).update(
        processed=4, succeeded=4, status=BulkOperation.Status.SUCCEEDED, finished_at=timezone.now()
    )
    expect(page.get_by_test_id("finished-notice")).to_be_visible(timeout=10_000)
    wait_for_bar(page, 1.0)
    assert abs(bar_fraction(page) - 1.0) < 0.01

    # The audit log: the failed login is there, for the user's company to see.
    page.get_by_role("link", name="Audit log").click()
    events = page.get_by_test_id("audit-events")
    expect(events).to_be_visible()
    page.goto(live_server.url + reverse("bulkops:audit-log") + "?action=login.")
    expect(events.locator("tbody tr").filter(has_text="login.failed")).to_have_count(1)
    expect(events).to_contain_text("username: — → sue")

    headers.assert_all_had_it()
    watcher.assert_clean()


def test_the_lockout_page_under_the_policy(live_server, page, bulk_data):
    headers = Headers(page)
    page.goto(live_server.url + "/login/")
    statuses = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if r.request.method == "POST" else None,
    )
    for _ in range(5):
        page.get_by_label("Username").fill("sue")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        if page.get_by_test_id("lockout-message").count():
            break
    assert statuses == [200, 200, 200, 200, 429]
    expect(page.get_by_role("heading", name="Too many failed logins")).to_be_visible()
    expect(page.get_by_test_id("lockout-message")).to_contain_text("You can try again after")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()  # the app's look
    assert_accessible(page, "the lockout page")
    headers.assert_all_had_it()


# Serious violations axe-core finds in Django's own admin (its templates,
# scripts and CSS, not ours): told apart from ours by rule and element.
DJANGO_ADMIN = (
    Known(
        "aria-prohibited-attr",
        ".search-label-icon",
        "SelectFilter2.js (the two-list chooser) puts aria-label on a <span> with no role",
    ),
    Known(
        "link-in-text-block",
        ".breadcrumbs > a",
        "the admin's CSS tells breadcrumb links from their text by colour only "
        "(white on #c4dce8 text, 1.42:1)",
    ),
)


def test_the_django_admin_works_under_the_policy(live_server, page, bulk_data):
    data = bulk_data
    admin = UserFactory(username="ada", company=data.supervisor.company, role=ADMIN, is_staff=True)
    headers = Headers(page)

    response = page.goto(live_server.url + "/admin/")
    assert policy_of(response) == EXPECTED
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Configuration")).to_be_visible()
    assert_accessible(page, "the Django admin's index")

    # A change form with the admin's own scripts: the two-list group chooser
    # (SelectFilter2), the related-object links, the theme toggle.
    page.goto(live_server.url + reverse("admin:accounts_user_change", args=[data.cora.pk]))
    expect(page.get_by_role("heading", name="Change user")).to_be_visible()
    chooser = page.locator("#id_groups_from")  # built by SelectFilter2.js
    expect(chooser).to_be_visible()
    page.locator("#id_groups_from option", has_text=ADMIN).click()
    page.locator("#id_groups_add").click()
    expect(page.locator("#id_groups_to option", has_text=ADMIN)).to_have_count(1)
    page.get_by_role("button", name="Toggle theme").first.click()
    excused = assert_accessible(page, "a change form of the Django admin", known=DJANGO_ADMIN)
    assert {v["id"] for v in excused} <= {k.rule for k in DJANGO_ADMIN}

    # And an add form.
    page.goto(live_server.url + reverse("admin:accounts_accountstatus_add"))
    expect(page.get_by_role("heading", name="Add account status")).to_be_visible()
    assert_accessible(page, "an add form of the Django admin", known=DJANGO_ADMIN)
    headers.assert_all_had_it()


def test_axes_screens_work_under_the_policy_for_a_platform_superuser(live_server, page, bulk_data):
    root = UserFactory(username="root", company=None, is_staff=True, is_superuser=True)
    headers = Headers(page)
    page.goto(live_server.url + "/admin/login/")
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".errornote")).to_be_visible()
    page.get_by_label("Username").fill(root.username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + reverse("admin:axes_accessattempt_changelist"))
    expect(page.locator("#result_list")).to_contain_text("nobody")
    headers.assert_all_had_it()


def test_deleting_a_saved_list_asks_first(live_server, page, bulk_data):
    """The confirmation was an onsubmit="..." attribute; app.js asks now."""
    saved = SavedListFactory(owner=bulk_data.supervisor, name="To review")
    log_in(page, live_server.url, bulk_data.supervisor)
    page.goto(live_server.url + reverse("accounts:list-edit", args=[saved.pk]))
    asked = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("button", name="Delete list").click()
    expect(page.get_by_role("heading", name="Edit list “To review”")).to_be_visible()
    assert asked == ["Delete this list?"]
    assert SavedList.objects.filter(pk=saved.pk).exists()

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.get_by_role("button", name="Delete list").click()
    expect(page).to_have_url(re.compile(r"/accounts/"))
    assert len(asked) == 2
    assert not SavedList.objects.filter(pk=saved.pk).exists()
