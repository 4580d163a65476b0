"""Where a debtor's local time comes from: the time zones their postal
address and their phone numbers put them in.

A ZIP code gives one zone (the ``zipcodes`` package's table of US ZIP
codes, bundled with it); without a known ZIP code the state gives every zone
it spans (Tennessee: Central and Eastern); a US number's area code gives its
zones (Google's libphonenumber data, the ``phonenumbers`` package). The
contact rules allow a moment only when it is allowed in every candidate
zone, so these functions return sets and never guess one zone for several.

The tables are read once per process (about a second, a few megabytes)."""

from __future__ import annotations

import functools
import zoneinfo
from collections import defaultdict

import phonenumbers
import zipcodes
from phonenumbers import timezone as phone_timezones

from accounts.states import STATE_TIMEZONES


@functools.cache
def _zip_table() -> tuple[dict[str, str], dict[str, frozenset[str]], dict[str, tuple[str, ...]]]:
    """(ZIP -> zone, state -> its zones, state -> its ZIP codes)."""
    by_zip: dict[str, str] = {}
    state_zones: dict[str, set[str]] = defaultdict(set)
    state_zips: dict[str, list[str]] = defaultdict(list)
    known = zoneinfo.available_timezones()
    for entry in zipcodes.list_all():
        zone, state, code = entry.get("timezone") or "", entry.get("state") or "", entry["zip_code"]
        if zone not in known:
            # Empty, or not a zone (the table has a town's name for one).
            continue
        by_zip[code] = zone
        if entry.get("active") and entry.get("zip_code_type") == "STANDARD":
            state_zones[state].add(zone)
            state_zips[state].append(code)
    return (
        by_zip,
        {state: frozenset(zones) for state, zones in state_zones.items()},
        {state: tuple(codes) for state, codes in state_zips.items()},
    )


def zones_for_postal_code(postal_code: str) -> frozenset[str]:
    """The zone of a US ZIP code (ZIP+4 read by its first five digits), or
    none when the code is not a known ZIP code."""
    code = (postal_code or "").strip()[:5]
    zone = _zip_table()[0].get(code) if len(code) == 5 and code.isdigit() else None
    return frozenset({zone}) if zone else frozenset()


def zones_for_state(state: str) -> frozenset[str]:
    """Every zone a state's ZIP codes are in; for a state code the ZIP table
    does not know, its usual zone (``accounts.states``); none when unknown."""
    state = (state or "").upper()
    zones = _zip_table()[1].get(state)
    if zones:
        return zones
    entry = STATE_TIMEZONES.get(state)
    return frozenset({entry[1]}) if entry else frozenset()


@functools.lru_cache(maxsize=65536)
def zones_for_address(postal_code: str, state: str) -> frozenset[str]:
    """The ZIP code's zone, else the state's zones."""
    return zones_for_postal_code(postal_code) or zones_for_state(state)


def zones_for_number(number: str) -> frozenset[str]:
    """The zones of a phone number's area code (E.164); none when the number
    cannot be read or its area code is not placed in a zone.
    libphonenumber places North American numbers by their first seven
    digits at most (+1 area code and exchange): numbers are looked up, and
    remembered, by that prefix."""
    return _zones_for_prefix(number_zone_key(number))


def number_zone_key(number: str) -> str:
    """What a number's zones depend on: a North American number's first
    digits (+1, area code, exchange), any other number whole. Numbers with
    the same key have the same zones."""
    number = (number or "").strip()
    if number.startswith("+1") and len(number) >= 9:
        return number[:8] + "0000"
    return number


@functools.lru_cache(maxsize=65536)
def _zones_for_prefix(number: str) -> frozenset[str]:
    try:
        parsed = phonenumbers.parse(number, "US")
    except phonenumbers.NumberParseException:
        return frozenset()
    zones = phone_timezones.time_zones_for_number(parsed)
    return frozenset(z for z in zones if z != phone_timezones.UNKNOWN_TIMEZONE)


def zip_codes_of_state(state: str) -> tuple[str, ...]:
    """The state's standard ZIP codes (the demo data draws addresses from them)."""
    return _zip_table()[2].get((state or "").upper(), ())
