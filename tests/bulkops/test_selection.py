"""Selection: the value object (bulkops.selection) and the grid's
accounts:selection endpoint that changes it in the session."""

from __future__ import annotations

import json

import pytest
from django.http import QueryDict
from django.urls import reverse

from accounts.roles import SUPERVISOR
from bulkops import selection as selection_module
from bulkops.selection import Selection, SelectionError
from tests.accounts.test_grid_views import get_grid, parse_counter, parse_grid
from tests.factories import (
    AccountFactory,
    AccountStatusFactory,
    CreditorFactory,
    DebtorFactory,
    PortfolioFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

SESSION_KEY = "account_selection"


def pks(queryset):
    return sorted(queryset.values_list("pk", flat=True))


@pytest.fixture
def accounts(company):
    """30 accounts of ``company`` in file-number order: the first 20 in NY,
    the last 10 in CA."""
    portfolio = PortfolioFactory()
    shared = {
        "company": company,
        "portfolio": portfolio,
        "client": portfolio.client,
        "creditor": CreditorFactory(),
        "status": AccountStatusFactory(name="Active"),
    }
    ny, ca = DebtorFactory(state="NY"), DebtorFactory(state="CA")
    return [
        AccountFactory(file_number=f"F5{i:06d}", debtor=ny if i < 20 else ca, **shared)
        for i in range(30)
    ]


@pytest.fixture
def theirs(other_company):
    return [
        AccountFactory(company=other_company, debtor=DebtorFactory(state="NY")) for _ in range(3)
    ]


@pytest.fixture
def outsider(other_company):
    return UserFactory(username="outsider", company=other_company, role=SUPERVISOR)


# --- the value object -----------------------------------------------------------------


def test_empty_selection_selects_nothing(collector, accounts):
    selection = Selection("accounts")
    assert selection.is_empty
    assert selection.count(collector) == 0
    assert list(selection.resolve(collector)) == []
    assert not selection.includes(accounts[0].pk)


def test_explicit_ids(collector, accounts):
    picked = {accounts[0].pk, accounts[5].pk, accounts[29].pk}
    selection = Selection("accounts")
    for pk in picked:
        selection = selection.toggle(pk, True)
    assert selection.ids == frozenset(picked)
    assert not selection.is_empty
    assert selection.count(collector) == 3
    assert pks(selection.resolve(collector)) == sorted(picked)
    assert selection.includes(accounts[5].pk) and not selection.includes(accounts[6].pk)
    # Unchecking removes; unchecking what is not there changes nothing.
    selection = selection.toggle(accounts[5].pk, False).toggle(accounts[7].pk, False)
    assert pks(selection.resolve(collector)) == sorted(picked - {accounts[5].pk})


def test_changes_return_new_values(accounts):
    original = Selection("accounts")
    changed = original.toggle(accounts[0].pk, True)
    assert original.is_empty and not changed.is_empty
    assert changed.select_all() is not changed and not changed.select_all().ids
    with pytest.raises(AttributeError):
        changed.ids = frozenset()


def test_select_all_with_exclusions(collector, accounts, theirs):
    selection = Selection.for_filters("accounts", QueryDict("state=NY&sort=-debtor&page=2"))
    assert selection.filters == (("state", "NY"),)
    selection = selection.toggle(accounts[0].pk, True).select_all()
    assert selection.all_matching and not selection.ids
    ny = [a.pk for a in accounts[:20]]
    assert pks(selection.resolve(collector)) == ny
    assert selection.count(collector) == 20

    selection = selection.toggle(accounts[3].pk, False).toggle(accounts[19].pk, False)
    assert selection.excluded == {accounts[3].pk, accounts[19].pk}
    assert not selection.includes(accounts[3].pk) and selection.includes(accounts[4].pk)
    assert selection.count(collector) == 18
    assert pks(selection.resolve(collector)) == sorted(set(ny) - {accounts[3].pk, accounts[19].pk})

    # Re-checking an excluded account includes it again.
    selection = selection.toggle(accounts[3].pk, True)
    assert selection.count(collector) == 19
    # Clearing drops everything, the filters stay.
    cleared = selection.clear()
    assert cleared.is_empty and cleared.filters == (("state", "NY"),)
    assert cleared.count(collector) == 0


def test_select_all_without_filters_is_every_visible_account(collector, accounts, theirs):
    selection = Selection("accounts").select_all()
    assert pks(selection.resolve(collector)) == sorted(a.pk for a in accounts)


def test_resolve_never_reaches_another_companys_accounts(collector, outsider, accounts, theirs):
    foreign = [a.pk for a in theirs]
    mixed = Selection("accounts", ids=frozenset([accounts[0].pk, *foreign]))
    assert pks(mixed.resolve(collector)) == [accounts[0].pk]
    assert mixed.count(collector) == 1
    assert pks(mixed.resolve(outsider)) == sorted(foreign)

    only_foreign = Selection("accounts", ids=frozenset(foreign))
    assert only_foreign.count(collector) == 0

    everything = Selection("accounts", filters=(("state", "NY"),)).select_all()
    assert pks(everything.resolve(collector)) == [a.pk for a in accounts[:20]]
    assert pks(everything.resolve(outsider)) == sorted(foreign)


def test_resolve_goes_through_the_grid_filter(collector, accounts):
    """Bad filter values are ignored exactly as the grid ignores them."""
    selection = Selection("accounts", filters=(("state", "CA"), ("status", "999999"))).select_all()
    assert pks(selection.resolve(collector)) == [a.pk for a in accounts[20:]]


def test_to_dict_from_dict_round_trip(accounts):
    for selection in (
        Selection("accounts"),
        Selection(
            "accounts", filters=(("q", "smi"), ("state", "NY"), ("status", "1"), ("status", "2"))
        ),
        Selection("accounts", ids=frozenset({accounts[2].pk, accounts[1].pk})),
        Selection(
            "accounts", filters=(("state", "CA"),), all_matching=True, excluded=frozenset({7, 3})
        ),
    ):
        data = selection.to_dict()
        assert Selection.from_dict(data) == selection
        assert data["ids"] == sorted(data["ids"])
        # The dict survives JSON (the session stores it that way).
        assert Selection.from_dict(json.loads(json.dumps(data))) == selection


@pytest.mark.parametrize(
    "data",
    [
        None,
        "all",
        ["ids"],
        {"selectable": "accounts", "ids": ["abc"]},
        {"selectable": "accounts", "ids": 5},
        {"selectable": "accounts", "ids": [None]},
        {"selectable": "accounts", "excluded": ["x"]},
        {"selectable": "accounts", "excluded": 3},
        {"selectable": "accounts", "filters": [["state"]]},
        {"selectable": "accounts", "filters": [["state", "NY", "extra"]]},
        {"selectable": "accounts", "filters": 7},
        {"ids": [1]},
        {"selectable": "no-such-list", "ids": [1]},
    ],
)
def test_malformed_dicts_are_refused(data):
    with pytest.raises(SelectionError):
        Selection.from_dict(data)


def test_too_many_explicit_ids_are_refused(monkeypatch):
    monkeypatch.setattr(selection_module, "MAX_EXPLICIT_IDS", 3)
    with pytest.raises(SelectionError):
        Selection.from_dict({"selectable": "accounts", "ids": [1, 2, 3, 4]})
    with pytest.raises(SelectionError):
        Selection.from_dict(
            {"selectable": "accounts", "all_matching": True, "excluded": [1, 2, 3, 4]}
        )
    selection = Selection("accounts", ids=frozenset({1, 2, 3}))
    with pytest.raises(SelectionError):
        selection.toggle(4, True)
    assert selection.toggle(3, False).ids == {1, 2}


# --- the endpoint and the grid ------------------------------------------------------------


def post_selection(client, op, state="", **fields):
    return client.post(reverse("accounts:selection"), {"op": op, "state": state, **fields})


def stored(client) -> Selection:
    return Selection.from_dict(client.session[SESSION_KEY])


def test_toggle_answers_with_the_counter(client, collector, accounts):
    client.force_login(collector)
    get_grid(client)
    response = post_selection(client, "toggle", id=accounts[0].pk, checked="1")
    assert response.status_code == 200
    content = response.content.decode()
    assert "<strong>1</strong> selected of 30" in content
    assert parse_counter(content) == (1, 30)
    response = post_selection(client, "toggle", id=accounts[1].pk, checked="1")
    assert parse_counter(response.content.decode()) == (2, 30)
    response = post_selection(client, "toggle", id=accounts[0].pk, checked="")
    assert parse_counter(response.content.decode()) == (1, 30)
    assert stored(client).ids == {accounts[1].pk}


def test_selection_survives_paging_sorting_and_reload(client, collector, accounts):
    client.force_login(collector)
    state = "state=NY&per_page=25"
    page = get_grid(client, {"state": "NY", "per_page": 25})
    assert (page.selected, page.total) == (0, 20)
    post_selection(client, "toggle", state=state, id=accounts[2].pk, checked="1")
    post_selection(client, "toggle", state=state, id=accounts[15].pk, checked="1")

    for params in (
        {"state": "NY", "per_page": 25},
        {"state": "NY", "per_page": 25, "sort": "-file_number"},
        {"state": "NY", "per_page": 50, "page": 1, "sort": "debtor"},
        {"state": "NY", "per_page": 25, "page": "abc"},
    ):
        page = get_grid(client, params)
        assert "The filters changed" not in " ".join(page.notices)
        assert (page.selected, page.total) == (2, 20), params
        checked = {row.pk for row in page.rows if row.checked}
        assert checked == {accounts[2].pk, accounts[15].pk}, params


def test_selection_is_dropped_with_a_notice_when_the_filters_change(client, collector, accounts):
    client.force_login(collector)
    get_grid(client, {"state": "NY"})
    post_selection(client, "toggle", state="state=NY", id=accounts[0].pk, checked="1")
    assert get_grid(client, {"state": "NY"}).selected == 1

    page = get_grid(client, {"state": "CA"})
    assert page.notices == ["The filters changed, so the previous selection was cleared."]
    assert (page.selected, page.total) == (0, 10)
    assert stored(client).is_empty and stored(client).filters == (("state", "CA"),)
    # Back to the first filters: the selection is gone, and no notice for an empty one.
    page = get_grid(client, {"state": "NY"})
    assert page.notices == []
    assert (page.selected, page.total) == (0, 20)


def test_changing_filters_through_the_endpoint_also_drops_the_selection(
    client, collector, accounts
):
    client.force_login(collector)
    get_grid(client, {"state": "NY"})
    post_selection(client, "all", state="state=NY")
    assert stored(client).all_matching
    response = post_selection(client, "toggle", state="state=CA", id=accounts[25].pk, checked="1")
    assert parse_counter(response.content.decode()) == (1, 10)
    assert stored(client).ids == {accounts[25].pk} and not stored(client).all_matching


def test_select_all_with_exclusions_across_pages(client, collector, accounts):
    client.force_login(collector)
    state = "per_page=25"
    get_grid(client, {"per_page": 25})
    response = post_selection(client, "all", state=state)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#grid"
    page = parse_grid(response)
    assert (page.selected, page.total) == (30, 30)
    assert "<strong>30</strong> selected of 30" in page.html
    assert all(row.checked for row in page.rows)
    assert 'data-testid="select-all-badge"' in page.html

    # Exclude one account of page 1 and one of page 2.
    response = post_selection(client, "toggle", state=state, id=accounts[1].pk, checked="")
    assert parse_counter(response.content.decode()) == (29, 30)
    response = post_selection(
        client, "toggle", state=state + "&page=2", id=accounts[27].pk, checked=""
    )
    assert parse_counter(response.content.decode()) == (28, 30)
    assert "2 excluded" in response.content.decode()

    page = get_grid(client, {"per_page": 25, "page": 2})
    assert page.pks == [a.pk for a in accounts[25:]]
    assert {row.pk for row in page.rows if not row.checked} == {accounts[27].pk}
    assert (page.selected, page.total) == (28, 30)
    page = get_grid(client, {"per_page": 25})
    assert {row.pk for row in page.rows if not row.checked} == {accounts[1].pk}

    selection = stored(client)
    assert selection.count(collector) == 28
    assert accounts[1].pk not in pks(selection.resolve(collector))

    # Clear.
    page = parse_grid(post_selection(client, "none", state=state))
    assert (page.selected, page.total) == (0, 30)
    assert not any(row.checked for row in page.rows)


def test_select_all_counts_the_filtered_accounts_only(client, collector, accounts, theirs):
    client.force_login(collector)
    page = parse_grid(post_selection(client, "all", state="state=CA"))
    assert (page.selected, page.total) == (10, 10)
    assert stored(client).count(collector) == 10


def test_bad_selection_requests_show_a_notice(client, collector, accounts):
    client.force_login(collector)
    get_grid(client)
    for fields, notice in (
        ({"op": "toggle", "id": "abc", "checked": "1"}, "That is not an account."),
        ({"op": "toggle", "checked": "1"}, "That is not an account."),
        ({"op": "toggle", "id": "999999", "checked": "1"}, "That account is not available to you."),
        ({"op": "explode"}, "Unknown selection change."),
        ({}, "Unknown selection change."),
    ):
        response = client.post(reverse("accounts:selection"), {"state": "", **fields})
        assert response.status_code == 200
        page = parse_grid(response)
        assert page.notices == [notice], fields
        assert (page.selected, page.total) == (0, 30)


def test_another_companys_account_cannot_be_selected(client, outsider, accounts, theirs):
    client.force_login(outsider)
    get_grid(client)
    response = post_selection(client, "toggle", id=accounts[0].pk, checked="1")
    page = parse_grid(response)
    assert page.notices == ["That account is not available to you."]
    assert (page.selected, page.total) == (0, 3)
    assert stored(client).is_empty
    assert get_grid(client).selected == 0


def test_a_corrupt_session_selection_is_replaced(client, collector, accounts):
    client.force_login(collector)
    session = client.session
    session[SESSION_KEY] = {"selectable": "accounts", "ids": ["not-a-number"], "filters": []}
    session.save()
    page = get_grid(client)
    assert (page.selected, page.total) == (0, 30)
    assert stored(client).is_empty


def test_selection_query_string_in_state_is_not_a_filter(client, collector, accounts):
    """sort, page, per_page and list in ``state`` do not change the selection's filters."""
    client.force_login(collector)
    get_grid(client, {"state": "NY"})
    post_selection(client, "toggle", state="state=NY", id=accounts[0].pk, checked="1")
    response = post_selection(
        client,
        "toggle",
        state="sort=-debtor&state=NY&page=2&per_page=25",
        id=accounts[1].pk,
        checked="1",
    )
    assert parse_counter(response.content.decode()) == (2, 20)
