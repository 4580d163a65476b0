"""The account column catalogue (accounts.columns): one entry a column, the
grid table and the column chooser made from it, other apps' columns and
custom fields added to it, and which modules may read it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from accounts import columns as catalogue
from accounts import selectors
from accounts.actions.export import ExportAccounts
from accounts.columns import DEFAULT_COLUMNS, GRID_COLUMNS, AccountColumn, Grid
from accounts.forms import column_choices
from accounts.models import CustomField
from accounts.tables import account_table_class

ROOT = Path(__file__).resolve().parents[2]

# The chooser's order before the catalogue (bulkops/exports.py, git history):
# the grid's columns, contact details, postal address, billing's claims summary.
# (Billing's grid column, Balance as of, is not an export column.)
CHOOSER_ORDER = [
    *(key for key in GRID_COLUMNS if key != "balance_as_of"),
    "email", "phone", "address_line1", "address_line2", "city", "postal_code", "country",
    "claims_count", "claims_balance",
]  # fmt: skip


def test_the_grid_table_is_the_catalogues_grid_columns():
    table = account_table_class()([], columns=GRID_COLUMNS)
    assert [c.name for c in table.columns] == ["select", *GRID_COLUMNS]
    by_key = {c.key: c for c in catalogue.grid_columns()}
    for bound in table.columns:
        if bound.name == "select":
            continue
        assert bound.header == by_key[bound.name].label
        assert bound.orderable == bool(by_key[bound.name].grid.sort)
        if bound.orderable:
            assert tuple(bound.order_by) == by_key[bound.name].grid.sort
    assert column_choices() == [(k, by_key[k].label) for k in GRID_COLUMNS]
    assert GRID_COLUMNS[:8] == DEFAULT_COLUMNS


@pytest.mark.django_db
def test_export_offers_every_column_then_the_custom_fields_the_user_sees(supervisor, monkeypatch):
    CustomField.objects.create(name="Region", key="region")
    CustomField.objects.create(name="Hidden", key="hidden")
    CustomField.objects.create(name="Legacy", key="legacy", is_active=False)
    real = selectors.configuration_visible_to
    seen = []

    def only_region(user, model):
        seen.append((user, model))
        return real(user, model).exclude(key="hidden")

    monkeypatch.setattr(selectors, "configuration_visible_to", only_region)
    available = ExportAccounts.catalogue.columns(supervisor)
    assert list(available) == [*CHOOSER_ORDER, "cf:region"]
    assert seen == [(supervisor, CustomField)]
    # An operation naming an inactive custom field still finds it.
    named = ExportAccounts.catalogue.columns(supervisor, named=["cf:legacy"])
    assert list(named)[-2:] == ["cf:legacy", "cf:region"]
    assert {k for k, c in available.items() if c.sensitive} == {
        "account_number",
        "debtor",
        "email",
        "phone",
    }


def test_billing_contributes_its_columns_once_and_no_grid_column(monkeypatch):
    monkeypatch.setattr(catalogue, "COLUMNS", list(catalogue.COLUMNS))
    claims = [c for c in catalogue.COLUMNS if c.key.startswith("claims_")]
    catalogue.register_columns(*claims)  # billing.apps runs again: nothing changes
    assert [c.key for c in catalogue.COLUMNS] == CHOOSER_ORDER
    with pytest.raises(ValueError, match="share the key 'city'"):
        catalogue.register_columns(AccountColumn("city", "Town", sql="x"))
    with pytest.raises(ValueError, match="cannot be a grid column"):
        catalogue.register_columns(AccountColumn("extra", "Extra", grid=Grid(sort=("pk",))))
    catalogue.register_columns(AccountColumn("extra", "Extra", sql="'x'"))
    assert [c.key for c in catalogue.COLUMNS][-1] == "extra"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_catalogue_sits_below_services_and_tables():
    """Services, selectors and the catalogue never import the grid table."""
    for name in ("services", "selectors", "columns", "masking"):
        assert "accounts.tables" not in imports_of(ROOT / "accounts" / f"{name}.py"), name
    assert not {m for m in imports_of(ROOT / "accounts" / "columns.py") if m.startswith("billing")}
