"""Saved lists: the New List builder, the owner's edit and delete, sharing
with users and groups of the same company, opening a list on the grid, and
the builder's live "N accounts found"."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import QueryDict
from django.urls import reverse

from accounts.models import SavedList
from accounts.roles import COLLECTOR, SUPERVISOR
from accounts.services import save_list
from bulkops.models import AuditEvent
from bulkops.selection import Selection
from tests.accounts.test_grid_views import get_grid, parse_grid
from tests.factories import (
    AccountFactory,
    AccountStatusFactory,
    DebtorFactory,
    SavedListFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def statuses():
    return {
        "active": AccountStatusFactory(name="Active", sort_order=1),
        "dispute": AccountStatusFactory(name="Dispute", sort_order=2),
    }


@pytest.fixture
def accounts(company, other_company, statuses):
    """Ours: two NY accounts with a balance of 100 or more, one small NY
    account, one CA account. Theirs: a NY account with a big balance."""

    def make(owner, state, balance, status="active"):
        return AccountFactory(
            company=owner,
            debtor=DebtorFactory(state=state),
            current_balance=Decimal(balance),
            status=statuses[status],
        )

    return {
        "ny_big": make(company, "NY", "500.00"),
        "ny_mid": make(company, "NY", "150.00", "dispute"),
        "ny_small": make(company, "NY", "20.00"),
        "ca": make(company, "CA", "900.00"),
        "theirs": make(other_company, "NY", "700.00"),
    }


@pytest.fixture
def outsider(other_company):
    return UserFactory(username="outsider", company=other_company, role=COLLECTOR)


@pytest.fixture
def collector_group():
    return Group.objects.get(name=COLLECTOR)


def _builder_post(**overrides):
    data = {
        "name": "NY big balances",
        "default_sort": "-current_balance",
        "columns": ["file_number", "debtor", "current_balance", "state"],
        "state": "NY",
        "balance_min": "100",
    }
    data.update(overrides)
    return data


# --- creating ---------------------------------------------------------------------------


def test_new_list_form_renders_with_the_live_count(client, supervisor, accounts):
    client.force_login(supervisor)
    response = client.get(reverse("accounts:list-create"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "New List" in content
    assert "<strong>4</strong> accounts found" in content
    for label in ("List Name", "Default Sort", "Show Fields on List", "Share With: users"):
        assert label in content


def test_create_a_list_with_filters_sort_columns_and_shares(
    client, supervisor, collector, collector_group, accounts, statuses
):
    client.force_login(supervisor)
    response = client.post(
        reverse("accounts:list-create"),
        _builder_post(
            shared_with_users=[collector.pk],
            shared_with_groups=[collector_group.pk],
            status=[statuses["active"].pk, statuses["dispute"].pk],
            q="",
        ),
    )
    assert response.status_code == 302
    saved = SavedList.objects.get()
    assert saved.name == "NY big balances"
    assert saved.owner == supervisor and saved.company == supervisor.company
    assert saved.default_sort == "-current_balance"
    assert saved.columns == ["file_number", "debtor", "current_balance", "state"]
    assert list(saved.shared_with_users.all()) == [collector]
    assert list(saved.shared_with_groups.all()) == [collector_group]
    filters = QueryDict(saved.filter_query)
    assert filters.getlist("state") == ["NY"]
    assert filters.getlist("balance_min") == ["100"]
    assert sorted(filters.getlist("status")) == sorted(
        [str(statuses["active"].pk), str(statuses["dispute"].pk)]
    )
    # Only filters are kept: not the form's own fields, not empty ones.
    assert set(filters.keys()) == {"state", "balance_min", "status"}
    assert AuditEvent.objects.filter(action="saved_list.created").count() == 1

    # Saving opens the list on the grid.
    assert response.url.startswith(reverse("accounts:grid") + "?")
    opened = QueryDict(response.url.split("?", 1)[1])
    assert opened["list"] == str(saved.pk)
    assert opened["sort"] == "-current_balance"
    page = get_grid(client, opened)
    assert page.headers == ["File Number", "Debtor", "Current Balance", "State"]
    assert page.pks == [accounts["ny_big"].pk, accounts["ny_mid"].pk]
    assert page.notices == []
    assert 'data-testid="saved-list-bar"' in page.html
    assert "NY big balances" in page.html


def test_list_open_redirects_to_the_grid_with_filters_sort_and_list(client, supervisor, accounts):
    saved = SavedListFactory(
        owner=supervisor, filter_query="state=NY&balance_min=100", default_sort="debtor"
    )
    client.force_login(supervisor)
    response = client.get(reverse("accounts:list-open", args=[saved.pk]))
    assert response.status_code == 302
    path, _, query = response.url.partition("?")
    assert path == reverse("accounts:grid")
    query = QueryDict(query)
    assert query["state"] == "NY" and query["balance_min"] == "100"
    assert query["sort"] == "debtor" and query["list"] == str(saved.pk)


def test_saved_list_default_sort_on_a_column_the_list_does_not_show(client, supervisor, accounts):
    """The builder offers every column as default sort, whatever columns the list shows."""
    saved = SavedListFactory(
        owner=supervisor,
        filter_query="state=NY",
        default_sort="-current_balance",
        columns=["file_number", "debtor"],
    )
    client.force_login(supervisor)
    page = get_grid(
        client,
        QueryDict(client.get(reverse("accounts:list-open", args=[saved.pk])).url.split("?")[1]),
    )
    assert page.notices == []
    assert page.headers == ["File Number", "Debtor"]
    assert page.pks == [accounts["ny_big"].pk, accounts["ny_mid"].pk, accounts["ny_small"].pk]


def test_duplicate_name_for_the_same_owner_is_refused(client, supervisor, collector, accounts):
    SavedListFactory(owner=supervisor, name="NY big balances")
    client.force_login(supervisor)
    for name in ("NY big balances", "  NY big balances  "):
        response = client.post(reverse("accounts:list-create"), _builder_post(name=name))
        assert response.status_code == 200
        assert "You already have a list with this name." in response.content.decode()
    assert SavedList.objects.filter(owner=supervisor).count() == 1
    # Another owner may use the same name.
    client.force_login(collector)
    response = client.post(reverse("accounts:list-create"), _builder_post())
    assert response.status_code == 302
    assert SavedList.objects.filter(name="NY big balances").count() == 2


@pytest.mark.parametrize(
    "filters,message",
    [
        ({"balance_min": "abc"}, "Balance from: Enter a number."),
        ({"balance_min": "500", "balance_max": "100"}, "Current Balance: the end of the range"),
        ({"status": ["999999"]}, "Status: Select a valid choice."),
        ({"last_worked_after": "2025-02-30"}, "Last worked from: Enter a valid date."),
        ({"days_since_default_min": "-1"}, "Days since default from:"),
    ],
)
def test_invalid_filter_values_are_refused_and_nothing_saved(
    client, supervisor, accounts, filters, message
):
    client.force_login(supervisor)
    response = client.post(reverse("accounts:list-create"), _builder_post(**filters))
    assert response.status_code == 200
    content = response.content.decode()
    assert message in content
    assert SavedList.objects.count() == 0


def test_missing_name_is_refused(client, supervisor, accounts):
    client.force_login(supervisor)
    for name in ("", "   "):
        response = client.post(reverse("accounts:list-create"), _builder_post(name=name))
        assert response.status_code == 200
    assert SavedList.objects.count() == 0


def test_cannot_share_with_a_user_of_another_company(client, supervisor, outsider, accounts):
    client.force_login(supervisor)
    response = client.post(
        reverse("accounts:list-create"), _builder_post(shared_with_users=[outsider.pk])
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert SavedList.objects.count() == 0


def test_unknown_default_sort_or_column_is_refused(client, supervisor, accounts):
    client.force_login(supervisor)
    for overrides, message in (
        ({"default_sort": "password"}, "Select a valid choice"),
        (
            {"columns": ["file_number", "bogus"]},
            "“bogus” is not a field the list can show: "
            "choose the fields from Available Fields to Show.",
        ),
    ):
        response = client.post(reverse("accounts:list-create"), _builder_post(**overrides))
        assert response.status_code == 200
        assert message in response.content.decode()
    assert SavedList.objects.count() == 0


# --- sharing, editing, deleting ------------------------------------------------------------


@pytest.fixture
def shared_list(supervisor, collector):
    return SavedListFactory(
        owner=supervisor,
        name="Big NY",
        filter_query="state=NY&balance_min=100",
        default_sort="-current_balance",
        columns=["file_number", "current_balance"],
        shared_with_users=[collector],
    )


def test_owner_edits_the_list(client, supervisor, shared_list, accounts):
    client.force_login(supervisor)
    response = client.get(reverse("accounts:list-edit", args=[shared_list.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Edit list “Big NY”" in content
    assert "<strong>2</strong> accounts found" in content  # the list's filters
    assert '<option value="NY" selected>' in content

    response = client.post(
        reverse("accounts:list-edit", args=[shared_list.pk]),
        _builder_post(name="Big NY and CA", state="", balance_min="400", columns=["debtor"]),
    )
    assert response.status_code == 302
    shared_list.refresh_from_db()
    assert shared_list.name == "Big NY and CA"
    assert QueryDict(shared_list.filter_query).dict() == {"balance_min": "400"}
    assert shared_list.columns == ["debtor"]
    assert SavedList.objects.count() == 1
    assert AuditEvent.objects.filter(action="saved_list.updated").count() == 1
    page = get_grid(client, QueryDict(response.url.split("?", 1)[1]))
    assert page.pks == [accounts["ca"].pk, accounts["ny_big"].pk]


def test_owner_keeps_the_name_when_editing(client, supervisor, shared_list, accounts):
    client.force_login(supervisor)
    response = client.post(
        reverse("accounts:list-edit", args=[shared_list.pk]), _builder_post(name="Big NY")
    )
    assert response.status_code == 302


def test_save_list_takes_plain_arguments(supervisor, collector, outsider, collector_group):
    saved = save_list(
        user=supervisor,
        name="  Dispute  ",
        filter_query="status=2",
        default_sort="-current_balance",
        columns=["stage", "debtor", "stage"],
        shared_with_users=[collector, outsider, supervisor],
        shared_with_groups=[collector_group],
    )
    saved.refresh_from_db()
    assert (saved.name, saved.owner, saved.company) == ("Dispute", supervisor, supervisor.company)
    assert saved.what_contacts == SavedList.WhatContacts.ALL
    assert saved.columns == ["stage", "debtor"]  # in their order, once each
    # Only colleagues: not another company's user, not the owner.
    assert list(saved.shared_with_users.all()) == [collector]
    assert list(saved.shared_with_groups.all()) == [collector_group]
    [event] = AuditEvent.objects.filter(action="saved_list.created")
    assert event.changes == {
        "name": [None, "Dispute"],
        "filter_query": [None, "status=2"],
        "what_contacts": [None, "all"],
    }


def test_save_list_audits_the_name_it_had_before(supervisor, shared_list):
    save_list(
        user=supervisor,
        saved_list=shared_list,
        name="Bigger NY",
        filter_query="state=NY",
        what_contacts="mine",
    )
    [event] = AuditEvent.objects.filter(action="saved_list.updated")
    assert event.changes == {
        "name": ["Big NY", "Bigger NY"],
        "filter_query": ["state=NY&balance_min=100", "state=NY"],
        "what_contacts": ["all", "mine"],
    }


def test_save_list_refuses_a_stranger_and_a_duplicate_name(supervisor, collector, shared_list):
    with pytest.raises(PermissionDenied):
        save_list(user=collector, saved_list=shared_list, name="Mine now", filter_query="")
    save_list(user=supervisor, name="Other", filter_query="")
    with pytest.raises(ValidationError, match="already have a list with this name"):
        save_list(user=supervisor, saved_list=shared_list, name="Other", filter_query="")
    shared_list.refresh_from_db()
    assert shared_list.name == "Big NY"
    assert SavedList.objects.count() == 2


def test_owner_deletes_the_list(client, supervisor, shared_list):
    client.force_login(supervisor)
    response = client.post(reverse("accounts:list-delete", args=[shared_list.pk]))
    assert response.status_code == 302
    assert response.url == reverse("accounts:grid")
    assert not SavedList.objects.filter(pk=shared_list.pk).exists()
    assert AuditEvent.objects.filter(action="saved_list.deleted").count() == 1


def test_user_it_is_shared_with_opens_it_but_cannot_change_it(
    client, collector, shared_list, accounts
):
    client.force_login(collector)
    page = get_grid(client, full=True)
    assert reverse("accounts:list-open", args=[shared_list.pk]) in page.html
    assert "Big NY" in page.html and "(shared by" in page.html

    response = client.get(reverse("accounts:list-open", args=[shared_list.pk]))
    assert response.status_code == 302
    page = get_grid(client, QueryDict(response.url.split("?", 1)[1]))
    assert page.pks == [accounts["ny_big"].pk, accounts["ny_mid"].pk]
    assert page.headers == ["File Number", "Current Balance"]
    assert "Shared by" in page.html
    assert reverse("accounts:list-edit", args=[shared_list.pk]) not in page.html

    assert client.get(reverse("accounts:list-edit", args=[shared_list.pk])).status_code == 403
    response = client.post(
        reverse("accounts:list-edit", args=[shared_list.pk]), _builder_post(name="Hijacked")
    )
    assert response.status_code == 403
    assert client.post(reverse("accounts:list-delete", args=[shared_list.pk])).status_code == 403
    shared_list.refresh_from_db()
    assert shared_list.name == "Big NY"


def test_user_of_a_shared_group_opens_it_but_cannot_change_it(
    client, supervisor, company, collector_group, accounts
):
    saved = SavedListFactory(
        owner=supervisor, name="Team list", shared_with_groups=[collector_group]
    )
    teammate = UserFactory(company=company, role=COLLECTOR)
    client.force_login(teammate)
    assert "Team list" in get_grid(client, full=True).html
    assert client.get(reverse("accounts:list-open", args=[saved.pk])).status_code == 302
    assert client.get(reverse("accounts:list-edit", args=[saved.pk])).status_code == 403
    assert client.post(reverse("accounts:list-delete", args=[saved.pk])).status_code == 403
    assert SavedList.objects.filter(pk=saved.pk).exists()


def test_list_not_shared_is_invisible_to_a_colleague(client, supervisor, company, accounts):
    saved = SavedListFactory(owner=supervisor, name="Private list")
    colleague = UserFactory(company=company, role=SUPERVISOR)
    client.force_login(colleague)
    assert "Private list" not in get_grid(client, full=True).html
    assert client.get(reverse("accounts:list-open", args=[saved.pk])).status_code == 404
    assert client.get(reverse("accounts:list-edit", args=[saved.pk])).status_code == 404
    page = get_grid(client, {"list": saved.pk})
    assert page.notices == ["That saved list does not exist or is not shared with you."]


def test_user_of_another_company_gets_404(client, supervisor, collector_group, outsider, accounts):
    """Even in a group the list is shared with (groups are global roles)."""
    saved = SavedListFactory(
        owner=supervisor, name="Team list", shared_with_groups=[collector_group]
    )
    assert outsider.groups.filter(pk=collector_group.pk).exists()
    client.force_login(outsider)
    assert "Team list" not in get_grid(client, full=True).html
    assert client.get(reverse("accounts:list-open", args=[saved.pk])).status_code == 404
    assert client.get(reverse("accounts:list-edit", args=[saved.pk])).status_code == 404
    assert (
        client.post(reverse("accounts:list-edit", args=[saved.pk]), _builder_post()).status_code
        == 404
    )
    assert client.post(reverse("accounts:list-delete", args=[saved.pk])).status_code == 404
    assert SavedList.objects.filter(pk=saved.pk).exists()
    page = get_grid(client, {"list": saved.pk, "state": "NY"})
    assert page.notices == ["That saved list does not exist or is not shared with you."]
    assert page.pks == [accounts["theirs"].pk]


def test_shared_list_shows_only_the_viewers_accounts(client, outsider, other_company, accounts):
    """A list's filters run against the viewer's own scope."""
    owner = UserFactory(company=other_company, role=SUPERVISOR)
    saved = SavedListFactory(owner=owner, filter_query="state=NY", shared_with_users=[outsider])
    client.force_login(outsider)
    response = client.get(reverse("accounts:list-open", args=[saved.pk]))
    page = get_grid(client, QueryDict(response.url.split("?", 1)[1]))
    assert page.pks == [accounts["theirs"].pk]


# --- the live count ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params,expected",
    [
        ({}, "<strong>4</strong> accounts found"),
        ({"state": "NY"}, "<strong>3</strong> accounts found"),
        ({"state": "CA"}, "<strong>1</strong> account found"),
        ({"state": "NY", "balance_min": "100"}, "<strong>2</strong> accounts found"),
        ({"state": "WY"}, "<strong>0</strong> accounts found"),
    ],
)
def test_list_count(client, supervisor, accounts, params, expected):
    client.force_login(supervisor)
    response = client.get(reverse("accounts:list-count"), params)
    assert response.status_code == 200
    assert expected in response.content.decode()


def test_list_count_reports_bad_input(client, supervisor, accounts):
    client.force_login(supervisor)
    response = client.get(reverse("accounts:list-count"), {"state": "NY", "balance_min": "abc"})
    content = response.content.decode()
    assert "<strong>3</strong> accounts found" in content
    assert "Balance from: Enter a number." in content


def test_list_count_never_counts_another_company(client, outsider, accounts):
    client.force_login(outsider)
    response = client.get(reverse("accounts:list-count"), {"state": "NY"})
    assert "<strong>1</strong> account found" in response.content.decode()


def test_grid_lists_menu(client, supervisor, collector, shared_list, accounts):
    own = SavedListFactory(owner=collector, name="Mine")
    client.force_login(collector)
    page = parse_grid(client.get(reverse("accounts:grid")))
    menu = page.html.split('aria-label="Saved lists"', 1)[1].split("</ul>", 1)[0]
    assert reverse("accounts:list-create") in menu
    assert reverse("accounts:list-open", args=[own.pk]) in menu
    assert reverse("accounts:list-open", args=[shared_list.pk]) in menu
    assert menu.index("Big NY") < menu.index("Mine")


# --- "With List" and "With Selected" ------------------------------------------------------


def _bar_ops(page) -> dict[str, str]:
    """The saved-list bar's buttons: label -> the selection change they post."""
    bar = re.search(r'data-testid="saved-list-bar">(.*?)</div>', page.html, re.S).group(1)
    return {
        label: op
        for op, label in re.findall(r'data-selection-op="([^"]+)"[^>]*>([^<]+)</button>', bar)
    }


def _press(client, page, label, state):
    """What grid.js does on a click: POST the button's op with the grid's state."""
    return parse_grid(
        client.post(reverse("accounts:selection"), {"op": _bar_ops(page)[label], "state": state})
    )


def test_with_selected_keeps_the_rows_already_ticked(client, supervisor, accounts):
    """It posted "none" and so cleared the rows ticked before it was pressed."""
    saved = SavedListFactory(owner=supervisor, filter_query="state=NY")
    client.force_login(supervisor)
    state = f"state=NY&list={saved.pk}"
    page = get_grid(client, QueryDict(state))
    assert set(_bar_ops(page)) == {"With List", "With Selected"}
    for account in (accounts["ny_big"], accounts["ny_small"]):
        client.post(
            reverse("accounts:selection"),
            {"op": "toggle", "id": account.pk, "checked": "1", "state": state},
        )

    page = _press(client, page, "With Selected", state)
    assert page.notices == []
    assert (page.selected, page.total) == (2, 3)
    ticked = {row.pk for row in page.rows if row.checked}
    assert ticked == {accounts["ny_big"].pk, accounts["ny_small"].pk}
    assert 'data-testid="saved-list-bar"' in page.html  # still on the list
    # Pressed again: nothing changes.
    page = _press(client, page, "With Selected", state)
    assert (page.selected, page.total) == (2, 3)


def test_with_list_selects_the_list_and_with_selected_goes_back_to_ticking(
    client, supervisor, accounts
):
    saved = SavedListFactory(owner=supervisor, filter_query="state=NY")
    client.force_login(supervisor)
    state = f"state=NY&list={saved.pk}"
    page = get_grid(client, QueryDict(state))
    page = _press(client, page, "With List", state)
    assert (page.selected, page.total) == (3, 3)
    assert all(row.checked for row in page.rows)
    page = _press(client, page, "With Selected", state)
    assert page.notices == []
    assert (page.selected, page.total) == (0, 3)
    assert not any(row.checked for row in page.rows)


# --- What Contacts ----------------------------------------------------------------------


@pytest.fixture
def assigned(company, collector, accounts):
    """The collector has NY big and CA, a second collector NY mid; NY small
    is nobody's. The supervisor has none."""
    teammate = UserFactory(username="teammate", company=company, role=COLLECTOR)
    for name, user in (("ny_big", collector), ("ca", collector), ("ny_mid", teammate)):
        accounts[name].assigned_to = user
        accounts[name].save(update_fields=["assigned_to"])
    return {"collector": collector, "teammate": teammate}


def _open(client, saved) -> QueryDict:
    response = client.get(reverse("accounts:list-open", args=[saved.pk]))
    assert response.status_code == 302
    return QueryDict(response.url.split("?", 1)[1])


def _selected_ids(client, user) -> set[int]:
    """The rows a bulk action would get: the session's selection, resolved."""
    selection = Selection.from_dict(client.session["account_selection"])
    return set(selection.resolve(user).values_list("pk", flat=True))


def test_my_accounts_are_the_owners_then_the_colleagues_it_is_shared_with(
    client, supervisor, collector, assigned, accounts
):
    client.force_login(collector)
    response = client.post(
        reverse("accounts:list-create"),
        _builder_post(
            name="Mine",
            what_contacts="mine",
            state="",
            balance_min="",
            shared_with_users=[assigned["teammate"].pk, supervisor.pk],
        ),
    )
    assert response.status_code == 302
    saved = SavedList.objects.get()
    assert saved.what_contacts == SavedList.WhatContacts.MINE
    # Stored as "whoever opens it", not as the owner's id among the filters.
    assert "assigned_to" not in QueryDict(saved.filter_query)

    # The owner: their own accounts, on the grid, its count, With List and
    # what a bulk action resolves.
    opened = QueryDict(response.url.split("?", 1)[1])
    assert opened["assigned_to"] == str(collector.pk)
    page = get_grid(client, opened)
    assert set(page.pks) == {accounts["ny_big"].pk, accounts["ca"].pk}
    assert page.total == 2 and page.notices == []
    assert 'data-testid="saved-list-what">(My Accounts)' in page.html
    page = _press(client, page, "With List", opened.urlencode())
    assert (page.selected, page.total) == (2, 2)
    assert _selected_ids(client, collector) == {accounts["ny_big"].pk, accounts["ca"].pk}

    # The colleague it is shared with: the colleague's accounts.
    client.force_login(assigned["teammate"])
    opened = _open(client, saved)
    assert opened["assigned_to"] == str(assigned["teammate"].pk)
    page = get_grid(client, opened)
    assert page.pks == [accounts["ny_mid"].pk]
    assert page.notices == []
    page = _press(client, page, "With List", opened.urlencode())
    assert (page.selected, page.total) == (1, 1)
    assert _selected_ids(client, assigned["teammate"]) == {accounts["ny_mid"].pk}

    # A supervisor with no accounts assigned: an empty list, not every account.
    client.force_login(supervisor)
    opened = _open(client, saved)
    assert opened["assigned_to"] == str(supervisor.pk)
    page = get_grid(client, opened)
    assert page.pks == [] and page.total == 0
    assert page.notices == []


def test_unassigned_accounts(client, supervisor, assigned, accounts):
    saved = SavedListFactory(owner=supervisor, filter_query="state=NY", what_contacts="unassigned")
    client.force_login(supervisor)
    opened = _open(client, saved)
    assert opened["assigned_to"] == "unassigned" and opened["state"] == "NY"
    page = get_grid(client, opened)
    assert page.pks == [accounts["ny_small"].pk]
    assert page.notices == []
    assert "(Unassigned Accounts)" in page.html


def test_all_accounts_adds_no_filter(client, supervisor, assigned, accounts):
    saved = SavedListFactory(owner=supervisor, filter_query="state=NY")
    assert saved.what_contacts == SavedList.WhatContacts.ALL
    client.force_login(supervisor)
    opened = _open(client, saved)
    assert "assigned_to" not in opened
    assert get_grid(client, opened).total == 3


def test_what_contacts_with_an_assigned_to_filter_is_refused(client, collector, assigned, accounts):
    client.force_login(collector)
    response = client.post(
        reverse("accounts:list-create"),
        _builder_post(what_contacts="mine", assigned_to=assigned["teammate"].pk),
    )
    assert response.status_code == 200
    assert (
        "What Contacts “My Accounts” already chooses the accounts by Assigned To: "
        "leave the Assigned To filter empty, or choose All Accounts."
    ) in response.content.decode()
    assert SavedList.objects.count() == 0
    with pytest.raises(ValidationError, match="already chooses the accounts by Assigned To"):
        save_list(
            user=collector, name="x", filter_query="assigned_to=unassigned", what_contacts="mine"
        )
    with pytest.raises(ValidationError, match="Choose All Accounts, My Accounts or Unassigned"):
        save_list(user=collector, name="x", filter_query="", what_contacts="everyone")
    response = client.post(reverse("accounts:list-create"), _builder_post(what_contacts="bogus"))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert SavedList.objects.count() == 0


def test_edit_keeps_and_changes_what_contacts(client, supervisor, assigned, accounts):
    saved = SavedListFactory(owner=supervisor, filter_query="state=NY", what_contacts="unassigned")
    client.force_login(supervisor)
    content = client.get(reverse("accounts:list-edit", args=[saved.pk])).content.decode()
    assert '<option value="unassigned" selected>Unassigned Accounts</option>' in content
    assert "<strong>1</strong> account found" in content  # NY and nobody's
    response = client.post(
        reverse("accounts:list-edit", args=[saved.pk]),
        _builder_post(name=saved.name, what_contacts="all", balance_min=""),
    )
    assert response.status_code == 302
    saved.refresh_from_db()
    assert saved.what_contacts == SavedList.WhatContacts.ALL


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"what_contacts": "all"}, 4),
        ({"what_contacts": "mine"}, 2),
        ({"what_contacts": "mine", "state": "NY"}, 1),
        ({"what_contacts": "unassigned"}, 1),
        ({"what_contacts": "unassigned", "state": "CA"}, 0),
    ],
)
def test_list_count_follows_what_contacts(client, collector, assigned, params, expected):
    client.force_login(collector)
    response = client.get(reverse("accounts:list-count"), params)
    assert f"<strong>{expected}</strong> account" in response.content.decode()


def test_list_count_says_what_contacts_and_assigned_to_clash(client, collector, assigned):
    client.force_login(collector)
    response = client.get(
        reverse("accounts:list-count"), {"what_contacts": "mine", "assigned_to": "unassigned"}
    )
    content = response.content.decode()
    assert "<strong>1</strong> account found" in content  # the filter as chosen
    assert "already chooses the accounts by Assigned To" in content


def test_another_companys_user_cannot_be_picked(
    client, supervisor, collector, outsider, assigned, accounts
):
    """Neither offered nor accepted: not in Share With, not in Assigned To."""
    client.force_login(supervisor)
    content = client.get(reverse("accounts:list-create")).content.decode()
    for name in ("shared_with_users", "assigned_to"):
        select = re.search(rf'<select name="{name}".*?</select>', content, re.S).group(0)
        offered = re.findall(r'<option value="(\d+)"', select)
        assert str(collector.pk) in offered
        assert str(outsider.pk) not in offered
    response = client.post(reverse("accounts:list-create"), _builder_post(assigned_to=outsider.pk))
    assert response.status_code == 200
    assert "Assigned To: Select a valid choice." in response.content.decode()
    response = client.post(
        reverse("accounts:list-create"),
        _builder_post(what_contacts="mine", shared_with_users=[outsider.pk]),
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert SavedList.objects.count() == 0
    # A list of theirs, "My Accounts", is not for this company's users either.
    theirs = SavedListFactory(owner=outsider, what_contacts="mine", shared_with_users=[outsider])
    assert client.get(reverse("accounts:list-open", args=[theirs.pk])).status_code == 404


def test_the_grid_filters_by_the_user_himself_collector_or_not(client, supervisor, assigned):
    """What "My Accounts" stands on: the Assigned To filter accepts whoever
    filters (a supervisor has no accounts: none), and offers them."""
    client.force_login(supervisor)
    page = get_grid(client, {"assigned_to": supervisor.pk}, full=True)
    assert page.notices == [] and page.pks == []
    assert f'<option value="{supervisor.pk}" selected>' in page.html


# --- Show Fields on List, in order -----------------------------------------------------


def _field_list(content: str, testid: str) -> list[tuple[str, bool]]:
    """(column key, ticked) of a builder list, in the page's order."""
    body = re.search(rf'data-testid="{testid}">(.*?)</[ou]l>', content, re.S).group(1)
    return [
        (key, "checked" in box)
        for key, box in re.findall(
            r'<li [^>]*data-field="([^"]+)".*?(<input type="checkbox"[^>]*>)', body, re.S
        )
    ]


def test_the_posted_order_is_the_grids_order_of_columns(client, supervisor, accounts):
    client.force_login(supervisor)
    order = ["state", "current_balance", "file_number", "debtor"]
    response = client.post(reverse("accounts:list-create"), _builder_post(columns=order))
    assert response.status_code == 302
    saved = SavedList.objects.get()
    assert saved.columns == order
    page = get_grid(client, QueryDict(response.url.split("?", 1)[1]))
    assert page.headers == ["State", "Current Balance", "File Number", "Debtor"]

    # The builder draws them in that order, ticked, before the others.
    content = client.get(reverse("accounts:list-edit", args=[saved.pk])).content.decode()
    assert _field_list(content, "fields-shown") == [(key, True) for key in order]
    available = _field_list(content, "fields-available")
    assert [key for key, _ in available][:3] == ["client", "portfolio", "account_number"]
    assert not any(ticked for _, ticked in available)
    assert len(available) + len(order) == 19  # with billing's Balance as of
    assert 'src="/static/js/list_builder.js" defer' in content

    # Reordered and a field added at the end (what the page posts, with or
    # without its script).
    response = client.post(
        reverse("accounts:list-edit", args=[saved.pk]),
        _builder_post(columns=["debtor", "state", "file_number", "current_balance", "stage"]),
    )
    assert response.status_code == 302
    page = get_grid(client, QueryDict(response.url.split("?", 1)[1]))
    assert page.headers == ["Debtor", "State", "File Number", "Current Balance", "Stage"]


def test_a_field_posted_twice_is_shown_once(client, supervisor, accounts):
    client.force_login(supervisor)
    response = client.post(
        reverse("accounts:list-create"), _builder_post(columns=["debtor", "state", "debtor"])
    )
    assert response.status_code == 302
    assert SavedList.objects.get().columns == ["debtor", "state"]


def test_a_refused_form_keeps_the_order_it_was_given(client, supervisor, accounts):
    client.force_login(supervisor)
    response = client.post(
        reverse("accounts:list-create"),
        _builder_post(name="", columns=["stage", "debtor", "file_number"]),
    )
    assert response.status_code == 200
    shown = _field_list(response.content.decode(), "fields-shown")
    assert shown == [("stage", True), ("debtor", True), ("file_number", True)]


def test_a_new_list_starts_with_the_owners_grid_columns(client, supervisor, accounts):
    client.force_login(supervisor)
    client.post(
        reverse("accounts:columns"), {"columns": ["debtor", "file_number", "current_balance"]}
    )
    content = client.get(reverse("accounts:list-create")).content.decode()
    assert [key for key, _ in _field_list(content, "fields-shown")] == [
        "debtor",
        "file_number",
        "current_balance",
    ]
    assert 'option value="all" selected>All Accounts' in content


def test_no_fields_chosen_shows_each_viewers_columns(client, supervisor, collector, accounts):
    client.force_login(supervisor)
    response = client.post(reverse("accounts:list-create"), _builder_post(columns=[]))
    assert response.status_code == 302
    saved = SavedList.objects.get()
    assert saved.columns == []
    page = get_grid(client, QueryDict(response.url.split("?", 1)[1]))
    assert page.headers[:2] == ["File Number", "Client"]  # the grid's defaults
    content = client.get(reverse("accounts:list-edit", args=[saved.pk])).content.decode()
    assert _field_list(content, "fields-shown") == []
    assert "No fields chosen: the list shows the columns each person chose" in content
