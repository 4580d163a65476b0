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


def test_few_actions_are_buttons(client, supervisor, company):
    AccountFactory(company=company)
    html = toolbar_html(client, supervisor)
    assert "dropdown-toggle" not in html
    assert 'data-bulk-action="assign"' in html and 'data-bulk-action="export"' in html


def test_many_actions_are_menus_by_group(client, supervisor, company, many_actions):
    AccountFactory(company=company)
    toolbar = registry.toolbar_for(supervisor, "accounts")
    assert toolbar.as_menus
    groups = [group for group, _ in toolbar.groups]
    # Groups in the order their first action comes: billing's Write Off
    # Balances (order 60) puts Money before the extra Communications ones.
    assert groups == ["Accounts", "Export", "Money", "Communications"]
    html = toolbar_html(client, supervisor)
    assert html.count("dropdown-toggle") == 4
    assert 'class="dropdown-item" data-bulk-action="extra1"' in html


def test_a_list_offers_only_its_own_actions(supervisor):
    assert registry.toolbar_for(supervisor, "no-such-list").buttons == ()
    assert {b.key for b in registry.toolbar_for(supervisor, "accounts")} >= {"assign", "export"}
