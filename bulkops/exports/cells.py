"""Cells: the kinds of column, how a value travels in a part file, and how
it is written to CSV and to .xlsx. Cells that a spreadsheet would read as a
formula are neutralised: a quote before them in CSV, a plain string cell in
XLSX."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, WriteOnlyCell

# Kinds of column: how a value is written in each format.
TEXT, MONEY, NUMBER, INTEGER, DATE, DATETIME = (
    "text",
    "money",
    "number",
    "integer",
    "date",
    "datetime",
)
NUMERIC_KINDS = (MONEY, NUMBER, INTEGER)
CENT = Decimal("0.01")
PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# A cell starting with one of these is a formula (or becomes one) in a spreadsheet.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CURRENCY_FORMAT = '"$"#,##0.00'
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


def escape_formula(text: str) -> str:
    """CSV: a quote before a cell a spreadsheet would run as a formula."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _is_number(text: str) -> bool:
    """A plain decimal number (as we write amounts): never a formula, even
    when negative. Anything else ("+5", "1e5") is text."""
    return PLAIN_NUMBER.fullmatch(text) is not None


def raw_value(value: Any, kind: str) -> str:
    """The value as it travels in a part file (and as CSV shows it)."""
    if value is None:
        return ""
    if kind == MONEY:
        return str(Decimal(value).quantize(CENT))
    if kind == DATETIME and isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if kind == DATE and isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def csv_cell(raw: str, kind: str) -> str:
    if kind in NUMERIC_KINDS and _is_number(raw):
        return raw  # a number is never a formula, negative or not
    return escape_formula(raw)


def xlsx_text(ws, text: str):
    """A string cell, never a formula or an error code."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)[:32767]
    if text.startswith("=") or text in ERROR_CODES:
        cell = WriteOnlyCell(ws, value=text)
        cell.data_type = "s"
        return cell
    return text


def xlsx_cell(ws, raw: str, kind: str):
    """The typed cell of a part file's value: amounts as numbers in a currency
    format, dates as dates; anything unreadable as its kind stays text."""
    if raw == "":
        return None
    try:
        if kind == MONEY:
            cell = WriteOnlyCell(ws, value=Decimal(raw))
            cell.number_format = CURRENCY_FORMAT
            return cell
        if kind == NUMBER and _is_number(raw):
            return Decimal(raw)
        if kind == INTEGER:
            return int(raw)
        if kind == DATE:
            cell = WriteOnlyCell(ws, value=dt.date.fromisoformat(raw))
            cell.number_format = DATE_FORMAT
            return cell
        if kind == DATETIME:
            cell = WriteOnlyCell(ws, value=dt.datetime.fromisoformat(raw))
            cell.number_format = DATETIME_FORMAT
            return cell
    except (ValueError, InvalidOperation):
        pass
    return xlsx_text(ws, raw)
