"""Masking of sensitive values, shared by the grid and exports."""

from __future__ import annotations

ASCII_DIGITS = frozenset("0123456789")


def mask_account_number(value: str | None) -> str:
    if not value:
        return ""
    return "****" + value[-4:]


def mask_email(value: str | None) -> str:
    if not value:
        return ""
    local, at, domain = value.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    digits = [c for c in value if c in ASCII_DIGITS]  # as the CSV export's SQL does
    return "***-***-" + "".join(digits[-4:])


def mask_name(value: str | None) -> str:
    """Names to initials: "Maria Lopez" -> "M. L."."""
    if not value:
        return ""
    return " ".join(f"{part[0]}." for part in value.split() if part)
