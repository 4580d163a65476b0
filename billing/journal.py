"""The account page's Journal tab (seed 004, section 4): every ledger entry
of the account, with its claim, product (service), payment method,
context, amount and the running balance; sorted by product, Claim ID, date
or context; filtered by claim, product, payment method and context; and
its CSV.

The running balance is the account's balance after each entry in posting
order, whatever the sort and the filters: a window sum over all of the
account's entries, in a subquery, with the filters outside it. The ORM
puts a filter next to the window it would change, so this read is SQL,
written once here (portable: SQLite has window functions too), with every
value a parameter and the sort from a fixed list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.utils.dateparse import parse_datetime

from accounts.models import Account
from billing.models import Claim, LedgerEntry, PaymentMethod

PAGE_SIZE = 50
CENT = Decimal("0.01")
# Sort key -> SQL (then newest first).
SORTS = {
    "date": "e.posted_at",
    "product": "product",
    "claim": "c.reference",
    "context": "e.context",
}
SORT_LABELS = {"date": "Date", "product": "Product", "claim": "Claim ID", "context": "Context"}
_PRODUCT = "COALESCE(st.name, s.service_name, '')"


@dataclass
class JournalFilters:
    claims: list[int] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    methods: list[int] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    sort: str = "date"
    descending: bool = True
    problems: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.claims or self.products or self.methods or self.contexts)


def options(account: Account) -> dict:
    """What each filter offers: the account's own claims, products and
    payment methods, and every context."""
    claims = list(
        Claim.objects.filter(account=account).order_by("reference").values_list("pk", "reference")
    )
    products = sorted(
        {
            name
            for pair in Claim.objects.filter(account=account).values_list(
                "service_type__name", "subscription__service_name"
            )
            for name in [pair[0] or pair[1] or ""]
            if name
        }
    )
    methods = list(
        PaymentMethod.objects.filter(account=account).order_by("label").values_list("pk", "label")
    )
    return {
        "claims": claims,
        "products": [(p, p) for p in products],
        "methods": methods,
        "contexts": list(LedgerEntry.Context.choices),
    }


def _ints(values, allowed, what, problems) -> list[int]:
    chosen = []
    for value in values:
        try:
            pk = int(value)
        except (TypeError, ValueError):
            pk = None
        if pk in allowed:
            chosen.append(pk)
        else:
            problems.append(f"Unknown {what} left out of the filter.")
    return chosen


def _strings(values, allowed, what, problems) -> list[str]:
    chosen = [v for v in values if v in allowed]
    if len(chosen) != len(values):
        problems.append(f"Unknown {what} left out of the filter.")
    return chosen


def parse_filters(params, offered: dict) -> JournalFilters:
    """The filters and sort from the query string: unknown values (another
    account's claim, say) are left out with a message, never used."""
    problems: list[str] = []
    sort = params.get("sort", "date")
    descending = params.get("dir", "desc") != "asc"
    if sort not in SORTS:
        problems.append("Unknown sort: the journal is sorted by date.")
        sort = "date"
    return JournalFilters(
        claims=_ints(
            params.getlist("claim"), {pk for pk, _ in offered["claims"]}, "claim", problems
        ),
        products=_strings(
            params.getlist("product"), {p for p, _ in offered["products"]}, "product", problems
        ),
        methods=_ints(
            params.getlist("method"),
            {pk for pk, _ in offered["methods"]},
            "payment method",
            problems,
        ),
        contexts=_strings(
            params.getlist("context"), {c for c, _ in offered["contexts"]}, "context", problems
        ),
        sort=sort,
        descending=descending,
        problems=problems,
    )


def _where(filters: JournalFilters) -> tuple[str, list]:
    clauses, params = [], []
    for column, values in (
        ("e.claim_id", filters.claims),
        (_PRODUCT, filters.products),
        ("e.payment_method_id", filters.methods),
        ("e.context", filters.contexts),
    ):
        if values:
            clauses.append(f"{column} IN ({', '.join(['%s'] * len(values))})")
            params.extend(values)
    return (" AND ".join(clauses) or "1 = 1"), params


def _sql(filters: JournalFilters, *, tail: str) -> tuple[str, list]:
    where, params = _where(filters)
    direction = "DESC" if filters.descending else "ASC"
    order = f"{SORTS[filters.sort]} {direction}, e.posted_at DESC, e.id DESC"
    # The window runs over three narrow columns of the account's entries
    # (an in-memory sort of 20,000 rows takes milliseconds); the wide rows
    # are read only for what the filters keep.
    sql = f"""
        WITH running AS (
            SELECT id, SUM(amount) OVER (ORDER BY posted_at, id) AS running
            FROM {LedgerEntry._meta.db_table} WHERE account_id = %s
        )
        SELECT e.id, e.posted_at, e.kind, e.amount, e.context, e.description,
               c.reference, {_PRODUCT} AS product, pm.label, r.running
        FROM {LedgerEntry._meta.db_table} e
        JOIN running r ON r.id = e.id
        LEFT JOIN billing_claim c ON c.id = e.claim_id
        LEFT JOIN billing_servicetype st ON st.id = c.service_type_id
        LEFT JOIN billing_subscription s ON s.id = c.subscription_id
        LEFT JOIN billing_paymentmethod pm ON pm.id = e.payment_method_id
        WHERE e.account_id = %s AND {where}
        ORDER BY {order}
        {tail}
    """
    return sql, params


_KINDS = dict(LedgerEntry.Kind.choices)
_CONTEXTS = dict(LedgerEntry.Context.choices)


def _money(value) -> Decimal:
    # SQLite sums in floating point: back to cents.
    return Decimal(str(value)).quantize(CENT)


def _row(values) -> dict:
    pk, posted_at, kind, amount, context, description, claim, product, method, running = values
    if isinstance(posted_at, str):  # SQLite through a raw cursor: UTC, as text
        posted_at = parse_datetime(posted_at)
    if posted_at is not None and posted_at.tzinfo is None:  # SQLite: UTC, naive
        posted_at = posted_at.replace(tzinfo=dt.UTC)
    return {
        "id": pk,
        "posted_at": posted_at,
        "kind": _KINDS.get(kind, kind),
        "amount": _money(amount),
        "context": _CONTEXTS.get(context, context),
        "description": description,
        "claim": claim or "",
        "product": product or "",
        "method": method or "",
        "running": _money(running),
    }


_JOINS = (
    "LEFT JOIN billing_claim c ON c.id = e.claim_id "
    "LEFT JOIN billing_servicetype st ON st.id = c.service_type_id "
    "LEFT JOIN billing_subscription s ON s.id = c.subscription_id "
    "LEFT JOIN billing_paymentmethod pm ON pm.id = e.payment_method_id "
)
_TABLE = LedgerEntry._meta.db_table


def journal_page(account: Account, filters: JournalFilters, page_number) -> dict:
    """One page of the account's journal, and how many entries match."""
    where, where_params = _where(filters)
    with connection.cursor() as cursor:
        joins = _JOINS if filters.products else ""
        cursor.execute(
            f"SELECT COUNT(*) FROM {_TABLE} e {joins}WHERE e.account_id = %s AND {where}",
            [account.pk, *where_params],
        )
        total = cursor.fetchone()[0]
        pages = max(1, -(-total // PAGE_SIZE))
        try:
            number = min(max(int(page_number or 1), 1), pages)
        except (TypeError, ValueError):
            number = 1
        offset = (number - 1) * PAGE_SIZE
        if not filters.active and filters.sort == "date":
            rows = _date_page(cursor, account.pk, filters.descending, offset)
        else:
            sql, params = _sql(filters, tail="LIMIT %s OFFSET %s")
            cursor.execute(sql, [account.pk, account.pk, *params, PAGE_SIZE, offset])
            rows = [_row(values) for values in cursor.fetchall()]
    return {"rows": rows, "total": total, "number": number, "pages": pages}


def _date_page(cursor, account_id: int, descending: bool, offset: int) -> list[dict]:
    """The unfiltered journal by date (the tab as it opens): a page is a run
    of consecutive entries, so one sum gives the running balance at the
    page's first row and each next row's follows from its neighbour's
    amount. No window over the whole account."""
    direction = "DESC" if descending else "ASC"
    cursor.execute(
        f"""
        SELECT e.id, e.posted_at, e.kind, e.amount, e.context, e.description,
               c.reference, {_PRODUCT} AS product, pm.label, 0
        FROM {_TABLE} e {_JOINS}
        WHERE e.account_id = %s
        ORDER BY e.posted_at {direction}, e.id {direction}
        LIMIT %s OFFSET %s
        """,
        [account_id, PAGE_SIZE, offset],
    )
    fetched = cursor.fetchall()
    if not fetched:
        return []
    first_id, first_at = fetched[0][0], fetched[0][1]
    cursor.execute(
        f"SELECT COALESCE(SUM(amount), 0) FROM {_TABLE} "
        "WHERE account_id = %s AND (posted_at < %s OR (posted_at = %s AND id <= %s))",
        [account_id, first_at, first_at, first_id],
    )
    running = _money(cursor.fetchone()[0])
    rows = []
    for values in fetched:
        row = _row(values)
        if rows:
            # Newest first: the older row's balance is this one's before its
            # amount; oldest first: after its own amount.
            running = running - rows[-1]["amount"] if descending else running + row["amount"]
        row["running"] = running
        rows.append(row)
    return rows


def journal_rows(account: Account, filters: JournalFilters) -> Iterator[dict]:
    """Every matching entry, in the page's order, fetched in batches from a
    server-side cursor (the CSV streams with flat memory)."""
    sql, params = _sql(filters, tail="")
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [account.pk, account.pk, *params])
        while batch := cursor.fetchmany(2000):
            for values in batch:
                yield _row(values)


def section_context(user, account: Account, params) -> dict:
    """The Journal tab's context (``params``: the page's query string)."""
    offered = options(account)
    filters = parse_filters(params, offered)
    query = params.copy()
    for name in ("page", "claim", "product", "method", "context"):
        query.pop(name, None)
    keep = params.copy()
    keep.pop("page", None)
    return {
        "journal": journal_page(account, filters, params.get("page")),
        "journal_filters": filters,
        "journal_options": offered,
        "journal_clear": "?" + query.urlencode(),
        "journal_query": keep.urlencode(),
        "journal_sorts": {
            key: {
                "label": label,
                "query": _sort_query(params, key, filters),
                "aria": ("descending" if filters.descending else "ascending")
                if filters.sort == key
                else "",
            }
            for key, label in SORT_LABELS.items()
        },
    }


def _sort_query(params, key: str, filters: JournalFilters) -> str:
    """The query string that sorts by ``key`` (again: the other way)."""
    query = params.copy()
    query.pop("page", None)
    query["sort"] = key
    query["dir"] = "asc" if filters.sort == key and filters.descending else "desc"
    return query.urlencode()
