"""The bulk-action registry: the toolbar of a list offers the actions
registered for it, as buttons while they are few and as one menu per group
once there are more (seed 001: "Actions > [desired action]")."""

import pytest
from django.urls import reverse

from bulkops import registry
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_actions(monkeypatch):
    """Enough extra actions, in two groups, to turn the toolbar into menus."""
    extra = {}
    for number in range(registry.TOOLBAR_BUTTONS_AT_MOST):
        group = "Money" if number % 2 else "Communications"
        extra[f"extra{number}"] = type(
            f"Extra{number}",
            (registry.BulkAction,),
            {
                "key": f"extra{number}",
                "label": f"Extra {number}",
                "target": "accounts",
                "group": group,
                "permission": "accounts.view_account",
                "order": 200 + number,
            },
        )
    monkeypatch.setattr(registry, "_REGISTRY", {**registry._REGISTRY, **extra})
    return extra


def toolbar_html(client, user) -> str:
    client.force_login(user)
    html = client.get(reverse("accounts:grid")).content.decode()
    start = html.index('role="toolbar"')
    return html[start : html.index("</div>\n</div>", start)]


def test_few_actions_are_buttons(client, supervisor, company, monkeypatch):
    AccountFactory(company=company)
    # The grid's toolbar actions (the registry also holds other lists', like the
    # frozen customers' Rollback, and actions started elsewhere).
    grids = [
        (key, a) for key, a in registry._REGISTRY.items() if a.target == "accounts" and a.in_toolbar
    ]
    few = dict(grids[: registry.TOOLBAR_BUTTONS_AT_MOST])
    monkeypatch.setattr(registry, "_REGISTRY", few)
    html = toolbar_html(client, supervisor)
    assert "dropdown-toggle" not in html
    assert html.count("data-bulk-action=") == len(few)


def test_many_actions_are_menus_by_group(client, supervisor, company, many_actions):
    AccountFactory(company=company)
    toolbar = registry.toolbar_for(supervisor, "accounts")
    assert toolbar.as_menus
    groups = [group for group, _ in toolbar.groups]
    # Groups in the order their first action comes: billing's Write Off
    # Balances (order 60) puts Money before Communications.
    assert groups == ["Accounts", "Export", "Money", "Communications"]
    html = toolbar_html(client, supervisor)
    # A group of one action (Export) stays a button; the others are menus.
    assert html.count("dropdown-toggle") == 3
    assert 'class="dropdown-item" data-bulk-action="extra1"' in html
    assert 'class="btn btn-sm btn-outline-primary" data-bulk-action="export"' in html


def test_the_product_has_enough_actions_for_menus(client, supervisor, company):
    AccountFactory(company=company)
    html = toolbar_html(client, supervisor)
    assert registry.toolbar_for(supervisor, "accounts").as_menus
    assert 'class="dropdown-item" data-bulk-action="send_message"' in html


def test_a_list_offers_only_its_own_actions(supervisor):
    assert registry.toolbar_for(supervisor, "no-such-list").buttons == ()
    assert {b.key for b in registry.toolbar_for(supervisor, "accounts")} >= {"assign", "export"}
