"""Reading JSON that a request carries (a dialog's list builder, say).

``json.loads`` of request text can fail in more ways than ``ValueError``:
brackets nested a hundred thousand deep raise ``RecursionError``, and an
integer of more than 4,300 digits raises ``ValueError`` only once Python
converts it. A field bounds the text's length first, then reads it with
every failure turned into the field's own message, and whole numbers inside
it are read with ``whole_number``, which refuses long digit strings before
``int()`` sees them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms

# Nine digits: below a billion, whatever the field means.
_DIGITS = re.compile(r"\s*-?[0-9]{1,9}\s*")


def parse_json(raw: str, *, max_length: int, message: str) -> Any:
    """The JSON value of ``raw``; ``ValidationError(message)`` for anything
    unreadable, nested too deep, or longer than ``max_length`` characters."""
    if len(raw) > max_length:
        raise forms.ValidationError(message, code="too_long")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise forms.ValidationError(message, code="invalid") from None


def whole_number(value: Any) -> int | None:
    """An int, or a string of at most nine ASCII digits (optionally signed),
    as an int; None for anything else (bools, floats, long strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None
