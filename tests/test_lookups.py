"""``field__any``: list membership sent as one parameter, on both backends."""

import pytest

from accounts.models import Account, AccountFlag
from tests.factories import AccountFactory, FlagFactory

pytestmark = pytest.mark.django_db


def test_any_matches_exactly_the_listed_ids():
    accounts = AccountFactory.create_batch(5)
    wanted = [accounts[0].pk, accounts[3].pk, 10**12]  # an id that does not exist
    assert set(Account.objects.filter(pk__any=wanted)) == {accounts[0], accounts[3]}
    assert set(Account.objects.exclude(pk__any=wanted)) == set(accounts) - {
        accounts[0],
        accounts[3],
    }


def test_any_of_nothing_matches_nothing():
    AccountFactory.create_batch(2)
    assert not Account.objects.filter(pk__any=[]).exists()
    assert Account.objects.exclude(pk__any=[]).count() == 2


def test_any_takes_strings_and_foreign_keys():
    first, second = AccountFactory.create_batch(2)
    assert list(Account.objects.filter(file_number__any=[second.file_number])) == [second]
    flag = FlagFactory()
    AccountFlag.objects.create(account=first, flag=flag)
    assert AccountFlag.objects.filter(account_id__any=[first.pk]).count() == 1
    assert AccountFlag.objects.filter(account__any=[second.pk]).count() == 0


def test_any_handles_thousands_of_values_in_one_parameter(django_assert_num_queries):
    accounts = AccountFactory.create_batch(3)
    ids = list(range(10**9, 10**9 + 20_000)) + [accounts[1].pk]
    with django_assert_num_queries(1):
        assert list(Account.objects.filter(pk__any=ids)) == [accounts[1]]


@pytest.mark.parametrize("bad", [[1.5], [None], [True], [object()]])
def test_any_refuses_values_that_are_not_ints_or_strings(bad):
    with pytest.raises(TypeError):
        Account.objects.filter(pk__any=bad)
