"""The one whitelist of placeholders a message template may use
(``{{debtorFirstName}}``...), each with its label, an example and how its
value is read from a recipient. Nothing outside this list renders: a
template naming anything else is refused when it is saved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Placeholder:
    name: str
    label: str
    group: str
    example: str
    value: Callable[[dict[str, Any]], str]
    email_only: bool = False
    # The same value as a PostgreSQL expression over the queueing statement's
    # tables (a: account, d: debtor, cr: creditor, co: company, u: the
    # assigned collector, cl: the claim), never NULL; "" when it has none
    # (the message is then filled in by ``value``).
    sql: str = ""


# What {{optOutLink}} is filled in with when a message is queued: each
# email's link is its own and signed (``communications.optout``), and a
# message is often filled in inside the database, where nothing can be
# signed, so the message keeps this marker and the dispatch puts the link in
# its place as it sends it. Nothing in it is changed by HTML escaping (an
# HTML body's values are escaped) or by a free text's paragraphs, nor needs
# quoting in SQL; and it reads as what it stands for on the message's page.
OPT_OUT_LINK_MARKER = "[opt-out link]"


def _money(value) -> str:
    if value is None:
        return ""
    return f"${Decimal(value):,.2f}"


def _date(value) -> str:
    return value.strftime("%m/%d/%Y") if value else ""


def _attr(obj, name, default=""):
    value = getattr(obj, name, None) if obj is not None else None
    return default if value in (None, "") else str(value)


PLACEHOLDERS: tuple[Placeholder, ...] = (
    Placeholder(
        "debtorFirstName",
        "Debtor's first name",
        "Debtor",
        "Maria",
        lambda c: _attr(c.get("debtor"), "first_name"),
        sql="d.first_name",
    ),
    Placeholder(
        "debtorLastName",
        "Debtor's last name",
        "Debtor",
        "Lopez",
        lambda c: _attr(c.get("debtor"), "last_name"),
        sql="d.last_name",
    ),
    Placeholder(
        "debtorFullName",
        "Debtor's full name",
        "Debtor",
        "Maria Lopez",
        lambda c: " ".join(
            p
            for p in (_attr(c.get("debtor"), "first_name"), _attr(c.get("debtor"), "last_name"))
            if p
        ),
        sql="concat_ws(' ', NULLIF(d.first_name, ''), NULLIF(d.last_name, ''))",
    ),
    Placeholder(
        "fileNumber",
        "File number",
        "Account",
        "F1000042",
        lambda c: _attr(c.get("account"), "file_number"),
        sql="a.file_number",
    ),
    Placeholder(
        "accountBalance",
        "Account balance",
        "Account",
        "$1,250.00",
        lambda c: _money(getattr(c.get("account"), "current_balance", None)),
        sql="'$' || to_char(a.current_balance, 'FM999,999,999,999,990.00')",
    ),
    Placeholder(
        "creditorName",
        "Creditor",
        "Account",
        "First Creditor Co",
        lambda c: _attr(getattr(c.get("account"), "creditor", None), "name"),
        sql="COALESCE(cr.name, '')",
    ),
    Placeholder(
        "claimReference",
        "Claim reference",
        "Claim",
        "INV-2024-0042",
        lambda c: _attr(c.get("claim"), "reference"),
        sql="COALESCE(cl.reference, '')",
    ),
    Placeholder(
        "claimBalance",
        "Claim balance",
        "Claim",
        "$450.00",
        lambda c: _money(getattr(c.get("claim"), "balance", None)),
        sql="COALESCE('$' || to_char(cl.balance, 'FM999,999,999,999,990.00'), '')",
    ),
    Placeholder(
        "claimDueDate",
        "Claim due date",
        "Claim",
        "03/31/2026",
        lambda c: _date(getattr(c.get("claim"), "due_date", None)),
        sql="COALESCE(to_char(cl.due_date, 'MM/DD/YYYY'), '')",
    ),
    Placeholder(
        "companyName",
        "Your company's name",
        "Company",
        "Harbor Collections",
        lambda c: _attr(c.get("company"), "name"),
        sql="co.name",
    ),
    Placeholder(
        "collectorName",
        "Assigned collector",
        "Collector",
        "Cora Collector",
        lambda c: (
            (c["collector"].get_full_name() or c["collector"].username)
            if c.get("collector") is not None
            else ""
        ),
        sql="COALESCE(NULLIF(btrim(u.first_name || ' ' || u.last_name), ''), u.username, '')",
    ),
    Placeholder(
        "customBody",
        "Free text written when sending",
        "Message",
        "Your free text here",
        lambda c: c.get("custom_body", ""),
    ),
    Placeholder(
        "optOutText",
        "How to opt out (text)",
        "Opt-out",
        "Reply STOP to opt out.",
        lambda c: c.get("opt_out_text", "Reply STOP to opt out."),
        sql="'Reply STOP to opt out.'",
    ),
    Placeholder(
        "optOutLink",
        "Opt-out link (email)",
        "Opt-out",
        "https://example.com/optout/…",
        # The link of a preview, else the marker its message keeps.
        lambda c: c.get("opt_out_link", OPT_OUT_LINK_MARKER),
        email_only=True,
        sql=f"'{OPT_OUT_LINK_MARKER}'",
    ),
)

BY_NAME: dict[str, Placeholder] = {p.name: p for p in PLACEHOLDERS}


def example_values() -> dict[str, str]:
    """Every placeholder's example, for previews without a recipient and for
    the editor's length count."""
    return {p.name: p.example for p in PLACEHOLDERS}


def values_for(context: dict[str, Any]) -> dict[str, str]:
    """Every placeholder's value for one recipient (``context``: debtor,
    account, claim, company, collector, custom_body, opt-out text and link)."""
    return {p.name: p.value(context) for p in PLACEHOLDERS}
