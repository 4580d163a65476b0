"""What an SMS costs: its length, its encoding and its segments.

GSM-7 when every character is in the GSM 03.38 alphabet (the extension
characters count twice): 160 characters in one segment, 153 a segment when
split. Otherwise UCS-2: 70, then 67 a segment (characters outside the Basic
Multilingual Plane count twice). The product's own rule (seed 001) is 140
characters after rendering, placeholders included."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CHARACTERS = 140

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = set("^{}\\[~]|€\f")
_HTML = re.compile(r"<\s*/?\s*[A-Za-z!][^>]*>")


@dataclass(frozen=True)
class Measure:
    characters: int
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int

    @property
    def too_long(self) -> bool:
        return self.characters > MAX_CHARACTERS


def measure(text: str) -> Measure:
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENSION for ch in text):
        units = sum(2 if ch in _GSM_EXTENSION else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, multi, encoding = 70, 67, "UCS-2"
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        segments = -(-units // multi)
    return Measure(characters=len(text), encoding=encoding, segments=segments)


def has_html(text: str) -> bool:
    """Whether an SMS body holds HTML markup (refused: it would be sent as is)."""
    return bool(_HTML.search(text))
