"""Export (seed 000, "Export Accounts"): the selected accounts to a CSV or
Excel file, with the columns of the account catalogue (accounts.columns)
that the user picks, masked unless they may see unmasked data. The file
machinery is the engine's (bulkops.exports); what is the accounts' is here:
which columns a user may export, over which accounts, and the tables the
COPY path joins to make them."""

from __future__ import annotations

from django.db import connection
from django.db.models import Q

from accounts import selectors
from accounts.columns import COLUMNS, CUSTOM_PREFIX, AccountColumn, custom_column
from accounts.models import (
    Account,
    AccountStatus,
    Client,
    Creditor,
    CustomField,
    Debtor,
    DebtorEmail,
    DebtorPhone,
    Office,
    Portfolio,
    User,
)
from bulkops.exports.action import ExportAction
from bulkops.exports.columns import Catalogue
from bulkops.exports.copy import id_condition, quote_table
from bulkops.registry import register

# The joins on the debtor are bounded by the chunk's range of debtor ids
# ({debtors}: ``AccountCatalogue.join_bounds``, read before the statement).
# Accounts and their debtors are mostly created together, so the range is
# about as narrow as the chunk, and PostgreSQL reads it as a range of each
# table's index and joins by hash, instead of one index lookup per account
# (or a scan of every debtor per chunk). A wide range is slower, never wrong.
DEBTOR_JOINS = {"d", "em", "ph"}


def _primary_join(alias: str, model) -> str:
    """The debtor's primary email or phone: at most one, by the table's
    partial unique constraint, so a plain join returns one row at most."""
    return (
        f"LEFT JOIN {quote_table(model)} {alias} ON {alias}.debtor_id = a.debtor_id "
        f"AND {alias}.is_primary AND {alias}.debtor_id BETWEEN {{debtors}}"
    )


def _debtor_range(ids: list[int]) -> tuple[int, int]:
    """The lowest and highest debtor id of these accounts, as numbers the
    planner sees (the subquery keeps PostgreSQL from answering min and max by
    walking the debtor index, which is slower than reading the chunk)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT min(x.debtor_id), max(x.debtor_id) FROM (SELECT a.debtor_id FROM "
            f"{quote_table(Account)} a WHERE {id_condition(ids)} OFFSET 0) x"
        )
        low, high = cursor.fetchone()
    return (low, high) if low is not None else (0, -1)


class AccountCatalogue(Catalogue):
    """The account catalogue as Export reads it: for a user (the custom
    fields they see), over the accounts they see."""

    model = Account
    alias = "a"
    unmask_permission = "accounts.view_unmasked_data"
    file_stem = "accounts"
    sheet_title = "Accounts"

    def columns(self, user, *, named=()) -> dict[str, AccountColumn]:
        """The catalogue's columns (the grid's, contact details, postal
        address, other apps'), then one per active custom field the user
        sees, by name (and per inactive one ``named``)."""
        columns = {c.key: c for c in COLUMNS}
        wanted = [k.removeprefix(CUSTOM_PREFIX) for k in named if k.startswith(CUSTOM_PREFIX)]
        custom = selectors.configuration_visible_to(user, CustomField).filter(
            Q(is_active=True) | Q(key__in=wanted)
        )
        columns.update((c.key, c) for c in map(custom_column, custom.order_by("name")))
        return columns

    def initial_keys(self, user) -> list[str]:
        return selectors.grid_columns_for(user)

    def visible_to(self, user):
        return selectors.accounts_visible_to(user)

    def joins(self) -> dict[str, str]:
        """The tables a column may read besides the account, in join order.
        An account's client, portfolio, debtor and status are never null."""
        return {
            "c": f"JOIN {quote_table(Client)} c ON c.id = a.client_id",
            "p": f"JOIN {quote_table(Portfolio)} p ON p.id = a.portfolio_id",
            "d": f"JOIN {quote_table(Debtor)} d ON d.id = a.debtor_id AND d.id BETWEEN {{debtors}}",
            "s": f"JOIN {quote_table(AccountStatus)} s ON s.id = a.status_id",
            "u": f"LEFT JOIN {quote_table(User)} u ON u.id = a.assigned_to_id",
            "cr": f"LEFT JOIN {quote_table(Creditor)} cr ON cr.id = a.creditor_id",
            "o": f"LEFT JOIN {quote_table(Office)} o ON o.id = a.office_id",
            "em": _primary_join("em", DebtorEmail),
            "ph": _primary_join("ph", DebtorPhone),
        }

    def join_bounds(self, ids: list[int], aliases: set[str]) -> dict[str, str]:
        low, high = _debtor_range(ids) if aliases & DEBTOR_JOINS else (0, -1)
        return {"debtors": f"{int(low)} AND {int(high)}"}


@register
class ExportAccounts(ExportAction):
    key = "export"
    label = "Export"
    target = "accounts"
    group = "Export"
    permission = "accounts.export_accounts"
    order = 50
    scripts = ("js/export.js",)
    catalogue = AccountCatalogue()
