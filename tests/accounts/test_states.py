"""accounts.states.timezone_for_state and Debtor.effective_timezone."""

import pytest

from accounts.models import Debtor
from accounts.states import DEFAULT_TIMEZONE, STATE_CHOICES, timezone_for_state
from tests.factories import DebtorFactory, DebtorWithContactsFactory


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("CA", "America/Los_Angeles"),
        ("ca", "America/Los_Angeles"),
        ("NY", "America/New_York"),
        ("TX", "America/Chicago"),
        ("AZ", "America/Phoenix"),
        ("HI", "Pacific/Honolulu"),
        ("AK", "America/Anchorage"),
        ("IN", "America/Indiana/Indianapolis"),
        ("DC", "America/New_York"),
    ],
)
def test_timezone_for_known_state(state, expected):
    assert timezone_for_state(state) == expected


@pytest.mark.parametrize("state", ["", None, "ZZ", "PR", "California"])
def test_timezone_for_unknown_state_is_eastern(state):
    assert DEFAULT_TIMEZONE == "America/New_York"
    assert timezone_for_state(state) == "America/New_York"


def test_state_choices_cover_fifty_states_and_dc_sorted_by_code():
    codes = [code for code, _name in STATE_CHOICES]
    assert len(codes) == 51
    assert codes == sorted(codes)
    assert ("DC", "District of Columbia") in STATE_CHOICES


@pytest.mark.django_db
def test_effective_timezone_prefers_the_debtors_own_zone():
    debtor = DebtorFactory(state="CA", timezone="America/Chicago")
    assert Debtor.objects.get(pk=debtor.pk).effective_timezone == "America/Chicago"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "expected"),
    [("CA", "America/Los_Angeles"), ("CO", "America/Denver"), ("MI", "America/Detroit")],
)
def test_effective_timezone_is_derived_from_state_when_empty(state, expected):
    debtor = DebtorFactory(state=state, timezone="")
    assert Debtor.objects.get(pk=debtor.pk).effective_timezone == expected


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["", "PR"])
def test_effective_timezone_for_missing_or_unknown_state_is_eastern(state):
    debtor = DebtorFactory(state=state, timezone="")
    assert Debtor.objects.get(pk=debtor.pk).effective_timezone == "America/New_York"


@pytest.mark.django_db
def test_debtor_with_contacts_factory_creates_primary_email_and_phone():
    debtor = DebtorWithContactsFactory(first_name="Ann", last_name="Lee")
    assert debtor.full_name == "Ann Lee"
    assert [e.is_primary for e in debtor.emails.all()] == [True]
    assert [p.phone_type for p in debtor.phones.all()] == ["mobile"]
    assert debtor.phones.get().number.startswith("+1555555")
