"""accounts.timezones: the zones a ZIP code, a state and a phone number put
a debtor in (every one of them, never a guess of one)."""

import zoneinfo

import pytest

from accounts import timezones


@pytest.mark.parametrize(
    ("postal_code", "zones"),
    [
        ("10001", {"America/New_York"}),
        ("60601-1234", {"America/Chicago"}),  # ZIP+4 by its first five digits
        ("96813", {"Pacific/Honolulu"}),
        ("00000", set()),
        ("ABCDE", set()),
        ("", set()),
    ],
)
def test_a_zip_code_gives_its_zone(postal_code, zones):
    assert timezones.zones_for_postal_code(postal_code) == zones


def test_a_state_gives_every_zone_it_spans():
    assert timezones.zones_for_state("TN") == {"America/Chicago", "America/New_York"}
    assert timezones.zones_for_state("ma") == {"America/New_York"}
    assert timezones.zones_for_state("") == set()
    # Without a known ZIP code, the state's zones.
    assert timezones.zones_for_address("00000", "TN") == timezones.zones_for_state("TN")
    assert timezones.zones_for_address("37201", "TN") == {"America/Chicago"}


def test_every_zone_of_the_table_is_a_real_zone():
    known = zoneinfo.available_timezones()
    by_zip, state_zones, _ = timezones._zip_table()
    assert set(by_zip.values()) <= known
    assert set().union(*state_zones.values()) <= known


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        ("+12125550100", {"America/New_York"}),
        ("+13125550100", {"America/Chicago"}),
        # Idaho's 208 is split by exchange.
        ("+12082015555", {"America/Denver"}),
        ("+12082155555", {"America/Los_Angeles"}),
        ("+15555550100", set()),  # not a geographic area code
        ("not a number", set()),
        ("", set()),
    ],
)
def test_a_number_gives_the_zones_of_its_area_code_and_exchange(number, zones):
    assert timezones.zones_for_number(number) == zones


def test_the_demo_draws_real_zip_codes_of_each_state():
    codes = timezones.zip_codes_of_state("NY")
    assert codes and all(timezones.zones_for_postal_code(c) for c in codes[:50])
