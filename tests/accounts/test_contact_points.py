"""A debtor has at most one primary email and one primary phone."""

import pytest
from django.db import IntegrityError, transaction

from tests.factories import DebtorEmailFactory, DebtorFactory, DebtorPhoneFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("factory", [DebtorEmailFactory, DebtorPhoneFactory])
def test_a_second_primary_is_refused_by_the_database(factory):
    debtor = DebtorFactory()
    factory(debtor=debtor, is_primary=True)
    factory(debtor=debtor, is_primary=False)  # any number of others
    factory(debtor=debtor, is_primary=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(debtor=debtor, is_primary=True)
    factory(is_primary=True)  # another debtor's primary is fine
    assert factory._meta.model.objects.filter(debtor=debtor, is_primary=True).count() == 1
