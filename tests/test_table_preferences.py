"""Per-user table preferences (common.TablePreference): any table keeps a
user's columns apart from every other table's and user's, drops keys the
table no longer knows, and the grid's old preferences migrated into it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from common.models import TablePreference
from common.preferences import save_table_columns, table_columns
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KNOWN = {"a", "b", "c"}


def test_each_user_and_table_keeps_its_own_columns():
    alice, bob = UserFactory(), UserFactory()
    save_table_columns(alice, "batches", ["c", "a"], known=KNOWN)
    save_table_columns(alice, "tasks", ["b"], known=KNOWN)
    save_table_columns(bob, "batches", ["b", "c"], known=KNOWN)
    save_table_columns(alice, "batches", ["a", "zzz", "a", "b"], known=KNOWN)  # replaces

    assert table_columns(alice, "batches", known=KNOWN, default=["a"]) == ["a", "b"]
    assert table_columns(alice, "tasks", known=KNOWN, default=["a"]) == ["b"]
    assert table_columns(bob, "batches", known=KNOWN, default=["a"]) == ["b", "c"]
    assert table_columns(bob, "tasks", known=KNOWN, default=["c", "a"]) == ["c", "a"]
    assert TablePreference.objects.count() == 3


def test_a_column_the_table_no_longer_has_is_dropped_and_none_left_means_defaults():
    user = UserFactory()
    TablePreference.objects.create(user=user, table="journal", columns=["gone", "b"])
    assert table_columns(user, "journal", known=KNOWN, default=["a"]) == ["b"]
    TablePreference.objects.filter(user=user).update(columns=["gone"])
    assert table_columns(user, "journal", known=KNOWN, default=["a", "c"]) == ["a", "c"]


@pytest.mark.django_db(transaction=True)  # SQLite alters tables outside a transaction only
def test_the_grids_preferences_migrate_and_come_back():
    before = [("accounts", "0005_per_company_configuration"), ("common", "0001_initial")]
    user = UserFactory()
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        old.get_model("accounts", "GridPreference").objects.create(
            user_id=user.pk, columns=["debtor", "stage"], per_page=25
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert list(TablePreference.objects.values_list("user", "table", "columns")) == [
        (user.pk, "accounts", ["debtor", "stage"])
    ]

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        rows = old.get_model("accounts", "GridPreference").objects.values_list("user", "columns")
        assert list(rows) == [(user.pk, ["debtor", "stage"])]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
