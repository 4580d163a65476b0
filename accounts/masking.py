"""Masking of sensitive values, shared by the grid, the account page and
exports: each mask in Python and, beside it, its SQL twin (``*_sql``: an
expression over an SQL expression ``x``, for the COPY path of CSV exports).
The two give the same text for every value: Python's whitespace for names,
ASCII digits for phones, NULL where Python gives "" (an empty cell).
``tests/bulkops/test_export_copy.py`` holds them to it."""

from __future__ import annotations

ASCII_DIGITS = frozenset("0123456789")

# What Python's str.split() and str.strip() take for whitespace (every
# character for which str.isspace() is true), so names split and strip alike.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _literal(value: str) -> str:
    """A string constant of the SQL we build (never user input as code)."""
    return "'" + value.replace("'", "''") + "'"


_WHITESPACE = _literal(PYTHON_WHITESPACE)
_HAS_WHITESPACE = _literal("[" + PYTHON_WHITESPACE + "]")
_ENDS_IN_FOUR_DIGITS = "'[0-9]{4}$'"


# --- names ---------------------------------------------------------------------------------


def full_name(first: str | None, last: str | None) -> str:
    """ "first last", stripped (a debtor's, a user's)."""
    return f"{first or ''} {last or ''}".strip()


def strip_sql(x: str) -> str:
    """``str.strip()``."""
    return f"btrim({x}, {_WHITESPACE})"


def full_name_sql(first: str, last: str) -> str:
    return strip_sql(f"coalesce({first}, '') || ' ' || coalesce({last}, '')")


# --- masks -----------------------------------------------------------------------------------


def mask_account_number(value: str | None) -> str:
    if not value:
        return ""
    return "****" + value[-4:]


def mask_account_number_sql(x: str) -> str:
    return f"CASE WHEN coalesce({x}, '') = '' THEN NULL ELSE '****' || right({x}, 4) END"


def mask_email(value: str | None) -> str:
    if not value:
        return ""
    local, at, domain = value.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_email_sql(x: str) -> str:
    return (
        f"CASE WHEN coalesce({x}, '') = '' THEN NULL WHEN strpos({x}, '@') = 0 THEN '***' "
        f"ELSE left(left({x}, strpos({x}, '@') - 1), 1) || '***@' "
        f"|| substr({x}, strpos({x}, '@') + 1) END"
    )


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    digits = [c for c in value if c in ASCII_DIGITS]  # as the CSV export's SQL does
    return "***-***-" + "".join(digits[-4:])


def mask_phone_sql(x: str) -> str:
    """The last four ASCII digits. A number that ends in four digits (as an
    E.164 number does) needs no regexp_replace, the slow part."""
    return (
        f"CASE WHEN coalesce({x}, '') = '' THEN NULL "
        f"WHEN {x} ~ {_ENDS_IN_FOUR_DIGITS} THEN '***-***-' || right({x}, 4) "
        f"ELSE '***-***-' || right(regexp_replace({x}, '[^0-9]', '', 'g'), 4) END"
    )


def mask_name(value: str | None) -> str:
    """Names to initials: "Maria Lopez" -> "M. L."."""
    if not value:
        return ""
    return " ".join(f"{part[0]}." for part in value.split() if part)


def mask_name_sql(x: str) -> str:
    """Each word's first character and a dot, one space apart: "M. L."."""
    space = "[" + PYTHON_WHITESPACE + "]"
    word = f"([^{PYTHON_WHITESPACE}])[^{PYTHON_WHITESPACE}]*{space}*"
    return (
        f"CASE WHEN coalesce({x}, '') = '' THEN NULL ELSE rtrim(regexp_replace("
        f"{strip_sql(x)}, {_literal(word)}, '\\1. ', 'g'), ' ') END"
    )


def mask_full_name_sql(first: str, last: str) -> str:
    """``mask_name_sql`` of ``full_name_sql(first, last)``, cheaper. When
    neither part holds any whitespace, as nearly every name, the initials are
    two ``left``s; the regular expression (a third of a masked export's time)
    is the fallback."""
    first, last = f"coalesce({first}, '')", f"coalesce({last}, '')"
    return (
        f"CASE WHEN {first} !~ {_HAS_WHITESPACE} AND {last} !~ {_HAS_WHITESPACE} "
        f"THEN NULLIF(concat_ws(' ', NULLIF(left({first}, 1), '') || '.', "
        f"NULLIF(left({last}, 1), '') || '.'), '') "
        f"ELSE {mask_name_sql(full_name_sql(first, last))} END"
    )
