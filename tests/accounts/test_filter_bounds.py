"""Extreme filter values never give an error page: every filter of the
accounts FilterSet, fed huge, negative, malformed and far-off values, on the
grid, the list builder's count, the selection and the list builder itself.
A value outside a filter's bounds is ignored, with a notice naming the
filter; a saved list holding one (saved before the bounds existed) still
opens, with the notice, and its edit page works."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.filters import AccountFilter
from accounts.models import SavedList
from accounts.roles import SUPERVISOR
from tests.accounts.test_grid_views import HTMX_GRID, parse_grid
from tests.factories import AccountFactory, SavedListFactory, UserFactory

pytestmark = pytest.mark.django_db

EXTREMES = [
    "1000000",
    "1e9",
    "-1e9",
    "9" * 40,
    "9" * 5000,
    "-5",
    "0.5",
    "1e-999",
    "9999-12-31",
    "0001-01-01",
    "99999-01-01",
    "NaN",
    "Infinity",
    "\x00",
    "' OR 1=1 --",
]
# A value outside these filters' bounds must be reported, not silently used.
OUT_OF_BOUNDS = {
    "days_since_default_min": ["1000000", "1e9", "9" * 40, "-5"],
    "days_since_default_max": ["1000000", "1e9", "9" * 40, "-5"],
    "declined_min": ["9" * 40, "1e9999", "-5", "0.5"],
    "balance_min": ["9" * 40, "1e12", "-1e13"],
    "balance_max": ["9" * 40, "1e12", "-1e13"],
    "last_worked_after": ["9999-12-31", "0001-01-01"],
    "last_worked_before": ["9999-12-31", "0001-01-01"],
    "last_payment_after": ["9999-12-31", "0001-01-01"],
    "last_payment_before": ["9999-12-31", "0001-01-01"],
}


@pytest.fixture
def user(company):
    AccountFactory(company=company)
    return UserFactory(username="bounds", company=company, role=SUPERVISOR)


@pytest.fixture
def browser(client, user) -> Client:
    client.force_login(user)
    return client


def notices_of(response) -> list[str]:
    return parse_grid(response).notices


def requests_survive(browser, params: dict[str, str]) -> None:
    """The grid (fragment and page), the builder's count, the selection and
    the list builder all answer ``params`` without an error page."""
    label = str(sorted(params.items()))[:120]
    state = "&".join(f"{k}={v}" for k, v in params.items())
    for response in (
        browser.get(reverse("accounts:grid"), params, headers=HTMX_GRID),
        browser.get(reverse("accounts:grid"), params),
        browser.get(reverse("accounts:list-count"), params),
        browser.post(reverse("accounts:selection"), {"op": "all", "state": state}),
        browser.post(reverse("accounts:selection"), {"op": "none", "state": state}),
        browser.get(reverse("accounts:list-create"), params),
    ):
        assert response.status_code == 200, (label, response.status_code)
    builder = browser.post(reverse("accounts:list-create"), {"name": "Extreme", **params})
    assert builder.status_code in (200, 302), (label, builder.status_code)
    SavedList.objects.filter(name="Extreme").delete()


@pytest.mark.parametrize("value", EXTREMES, ids=lambda v: repr(v[:12]))
def test_every_filter_at_once_with_an_extreme_value(browser, value):
    requests_survive(browser, dict.fromkeys(AccountFilter.base_filters, value))


@pytest.mark.parametrize("name", sorted(AccountFilter.base_filters))
def test_each_filter_alone_with_every_extreme_value(browser, name):
    """Alone too: one filter's refusal must not hide another's crash."""
    for value in EXTREMES:
        response = browser.get(reverse("accounts:grid"), {name: value}, headers=HTMX_GRID)
        assert response.status_code == 200, (name, value[:20], response.status_code)
        state = f"{name}={value}"
        response = browser.post(reverse("accounts:selection"), {"op": "all", "state": state})
        assert response.status_code == 200, (name, value[:20], response.status_code)


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, values in OUT_OF_BOUNDS.items() for v in values]
)
def test_a_value_out_of_bounds_is_ignored_with_a_notice(browser, name, value):
    label = str(AccountFilter.base_filters[name].label)
    notices = notices_of(browser.get(reverse("accounts:grid"), {name: value}, headers=HTMX_GRID))
    assert any(n.startswith(f"{label}:") and "This filter was ignored." in n for n in notices), (
        notices
    )
    # The list builder refuses to save it, saying why.
    response = browser.post(reverse("accounts:list-create"), {"name": "Out of bounds", name: value})
    assert response.status_code == 200
    assert label in response.content.decode()
    assert not SavedList.objects.filter(name="Out of bounds").exists()


def test_the_notice_says_what_the_bounds_are(browser):
    notices = notices_of(
        browser.get(
            reverse("accounts:grid"),
            {"days_since_default_min": "1000000", "last_worked_before": "9999-12-31"},
            headers=HTMX_GRID,
        )
    )
    assert any("36,500" in n for n in notices), notices
    assert any("2999-12-31" in n for n in notices), notices


def test_values_within_bounds_still_filter(browser, company):
    AccountFactory(company=company, declined_count=3)
    page = parse_grid(
        browser.get(reverse("accounts:grid"), {"declined_min": "3"}, headers=HTMX_GRID)
    )
    assert page.total == 1 and not page.notices


def test_a_list_saved_with_an_out_of_bounds_value_opens_with_a_notice(browser, user):
    saved = SavedListFactory(
        owner=user,
        company=user.company,
        name="Saved before the bounds",
        filter_query="days_since_default_min=1000000&last_worked_before=9999-12-31",
    )
    opened = browser.get(reverse("accounts:list-open", args=[saved.pk]), follow=True)
    assert opened.status_code == 200
    notices = parse_grid(opened).notices
    assert sum("This filter was ignored." in n for n in notices) == 2, notices

    edit = browser.get(reverse("accounts:list-edit", args=[saved.pk]))
    assert edit.status_code == 200
    assert "This filter was ignored." in edit.content.decode()


def test_a_shared_list_with_an_out_of_bounds_value_opens_for_whom_it_is_shared(
    client, user, company
):
    colleague = UserFactory(company=company, role=SUPERVISOR)
    saved = SavedListFactory(
        owner=user, company=company, name="Shared", filter_query="last_worked_before=9999-12-31"
    )
    saved.shared_with_users.add(colleague)
    client.force_login(colleague)
    opened = client.get(reverse("accounts:list-open", args=[saved.pk]), follow=True)
    assert opened.status_code == 200
    assert any("This filter was ignored." in n for n in parse_grid(opened).notices)


@pytest.mark.parametrize("raw", ["9" * 30, str(2**63), "-1", "0"])
def test_a_tampered_row_id_is_refused_with_a_notice(browser, raw):
    for state in ("", "status=1"):
        browser.post(reverse("accounts:selection"), {"op": "all", "state": state})
        response = browser.post(
            reverse("accounts:selection"),
            {"op": "toggle", "id": raw, "checked": "", "state": state},
        )
        assert response.status_code == 200
        grid = browser.get(reverse("accounts:grid"), {}, headers=HTMX_GRID)
        assert grid.status_code == 200


@pytest.mark.parametrize("url_name", ["bulkops:operation-list", "bulkops:audit-log"])
def test_history_filters_with_extreme_values_never_give_an_error_page(browser, url_name):
    names = [
        "kind",
        "created_by",
        "status",
        "created_after",
        "created_before",
        "action",
        "actor",
        "bulk_operation",
        "file_number",
        "occurred_after",
        "occurred_before",
    ]
    for value in EXTREMES:
        response = browser.get(reverse(url_name), dict.fromkeys(names, value))
        assert response.status_code == 200, (url_name, value[:20], response.status_code)
