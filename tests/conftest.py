"""Fixtures shared by the model and service tests: two companies and one
user per role, all with the password ``DEFAULT_PASSWORD``."""

import pytest

from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from tests.factories import DEFAULT_PASSWORD, CompanyFactory, UserFactory


@pytest.fixture
def password():
    return DEFAULT_PASSWORD


@pytest.fixture
def company(db):
    return CompanyFactory(name="Acme Recovery")


@pytest.fixture
def other_company(db):
    return CompanyFactory(name="Other Agency")


@pytest.fixture
def collector(company):
    return UserFactory(username="collector", company=company, role=COLLECTOR)


@pytest.fixture
def supervisor(company):
    return UserFactory(username="supervisor", company=company, role=SUPERVISOR)


@pytest.fixture
def admin_user(company):
    return UserFactory(username="admin", company=company, role=ADMIN)
