"""factory_boy factories for the accounts and billing models.

Money never enters through a factory: accounts start at a zero balance and
claims at a zero balance, and every charge or payment goes through
``billing.services`` so the derived fields stay consistent with the ledger.
"""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from accounts.models import (
    Account,
    AccountAccess,
    AccountStatus,
    Client,
    Company,
    Creditor,
    Debtor,
    DebtorEmail,
    DebtorPhone,
    Flag,
    Office,
    Portfolio,
    User,
)
from billing.models import Claim, PaymentMethod

DEFAULT_PASSWORD = "test-pass-123"


class CompanyFactory(DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Company {n}")
    kind = Company.Kind.AGENCY


class OfficeFactory(DjangoModelFactory):
    class Meta:
        model = Office

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Office {n}")
    timezone = "America/New_York"


class UserFactory(DjangoModelFactory):
    """A user of ``company`` (a fresh one unless given). ``role`` is the
    name of a group created by ``accounts.0002_roles``:
    ``UserFactory(role="Supervisor")``."""

    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    company = factory.SubFactory(CompanyFactory)
    is_active = True
    password = factory.django.Password(DEFAULT_PASSWORD)

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        if not create or not extracted:
            return
        roles = [extracted] if isinstance(extracted, str) else list(extracted)
        obj.groups.add(*(Group.objects.get(name=name) for name in roles))


class ClientFactory(DjangoModelFactory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")
    code = factory.Sequence(lambda n: f"CL{n:04d}")


class PortfolioFactory(DjangoModelFactory):
    class Meta:
        model = Portfolio

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Portfolio {n}")
    purchased_on = dt.date(2024, 1, 15)


class CreditorFactory(DjangoModelFactory):
    class Meta:
        model = Creditor

    name = factory.Sequence(lambda n: f"Creditor {n}")


class AccountStatusFactory(DjangoModelFactory):
    """A platform default status unless ``company`` is given."""

    class Meta:
        model = AccountStatus
        django_get_or_create = ("name", "company")

    company = None
    name = factory.Sequence(lambda n: f"Status {n}")
    category = AccountStatus.Category.ACTIVE
    is_active = True
    sort_order = factory.Sequence(lambda n: n)


class FlagFactory(DjangoModelFactory):
    class Meta:
        model = Flag

    name = factory.Sequence(lambda n: f"Flag {n}")
    description = ""
    is_active = True


def zone_at(hour: int) -> str:
    """A fixed-offset zone where it is now between ``hour``:00 and the next
    hour (POSIX signs: Etc/GMT-5 is five hours ahead of UTC)."""
    offset = (hour - dt.datetime.now(dt.UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset  # from -9 to +14 hours
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def zone_at_midday() -> str:
    """A zone where it is now between 12:00 and 13:00: a debtor who told the
    agency they live there may be contacted for the next eight hours (the
    contact rules' 8:00 to 21:00), whenever the suite runs. Tests of the
    time-of-day rule set ``timezone=""`` and a clock."""
    return zone_at(12)


class DebtorFactory(DjangoModelFactory):
    class Meta:
        model = Debtor

    first_name = factory.Sequence(lambda n: f"Debtor{n}")
    last_name = "Doe"
    state = "NY"
    timezone = factory.LazyFunction(zone_at_midday)
    city = "Albany"
    postal_code = "12207"


class DebtorEmailFactory(DjangoModelFactory):
    class Meta:
        model = DebtorEmail

    debtor = factory.SubFactory(DebtorFactory)
    address = factory.Sequence(lambda n: f"debtor{n}@example.net")
    is_primary = True


class DebtorPhoneFactory(DjangoModelFactory):
    class Meta:
        model = DebtorPhone

    debtor = factory.SubFactory(DebtorFactory)
    number = factory.Sequence(lambda n: f"+1555555{n % 10000:04d}")
    phone_type = DebtorPhone.PhoneType.MOBILE
    is_primary = True


class DebtorWithContactsFactory(DebtorFactory):
    """A debtor with one primary email and one primary mobile phone."""

    class Meta:
        skip_postgeneration_save = True

    email = factory.RelatedFactory(DebtorEmailFactory, factory_related_name="debtor")
    phone = factory.RelatedFactory(DebtorPhoneFactory, factory_related_name="debtor")


class AccountFactory(DjangoModelFactory):
    """An account at a zero balance, owned by ``company`` (a fresh company by
    default). ``shared_with=[...]`` grants other companies access too."""

    class Meta:
        model = Account
        skip_postgeneration_save = True

    file_number = factory.Sequence(lambda n: f"F{n:07d}")
    account_number = factory.Sequence(lambda n: f"4000{n:08d}")
    company = factory.SubFactory(CompanyFactory)
    portfolio = factory.SubFactory(PortfolioFactory)
    client = factory.SelfAttribute("portfolio.client")
    creditor = factory.SubFactory(CreditorFactory)
    debtor = factory.SubFactory(DebtorFactory)
    status = factory.SubFactory(AccountStatusFactory, name="Active")

    @factory.post_generation
    def shared_with(obj, create, extracted, **kwargs):
        if not create or not extracted:
            return
        AccountAccess.objects.bulk_create(
            AccountAccess(company=company, account=obj) for company in extracted
        )


class ClaimFactory(DjangoModelFactory):
    """A claim at a zero balance: charge it with
    ``post_ledger_entry(kind="charge", claim=claim, ...)``."""

    class Meta:
        model = Claim

    account = factory.SubFactory(AccountFactory)
    reference = factory.Sequence(lambda n: f"INV-{n:06d}")
    original_amount = Decimal("100.00")
    balance = Decimal("0.00")
    due_date = dt.date(2025, 1, 31)


class PaymentMethodFactory(DjangoModelFactory):
    class Meta:
        model = PaymentMethod

    account = factory.SubFactory(AccountFactory)
    kind = PaymentMethod.Kind.CARD
    label = "Visa ending 4242"
    mandate_reference = factory.Sequence(lambda n: f"MR-{n:06d}")


class SavedListFactory(DjangoModelFactory):
    """A saved list owned by ``owner`` in the owner's company.
    ``shared_with_users=[...]`` / ``shared_with_groups=[...]`` share it."""

    class Meta:
        model = "accounts.SavedList"
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    company = factory.SelfAttribute("owner.company")
    name = factory.Sequence(lambda n: f"List {n}")
    filter_query = ""
    default_sort = ""
    columns = factory.LazyFunction(list)

    @factory.post_generation
    def shared_with_users(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.shared_with_users.add(*extracted)

    @factory.post_generation
    def shared_with_groups(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.shared_with_groups.add(*extracted)


# --- bulk operations ------------------------------------------------------------------

_bulk_accounts_created = [0]


def create_accounts(n: int, *, company, **fields) -> list[Account]:
    """``n`` accounts of ``company`` in one INSERT, sharing one client,
    portfolio, creditor and debtor (unless given in ``fields``): for tests
    that need dozens of accounts quickly. Zero balances, like AccountFactory."""
    if "portfolio" not in fields:
        fields["portfolio"] = PortfolioFactory()
    fields.setdefault("client", fields["portfolio"].client)
    fields.setdefault("creditor", CreditorFactory())
    fields.setdefault("debtor", DebtorFactory())
    fields.setdefault("status", AccountStatusFactory(name="Active"))
    rows = []
    for _ in range(n):
        _bulk_accounts_created[0] += 1
        number = _bulk_accounts_created[0]
        rows.append(
            Account(
                file_number=f"B{number:07d}",
                account_number=f"5000{number:08d}",
                company=company,
                **fields,
            )
        )
    return Account.objects.bulk_create(rows)


class BulkOperationFactory(DjangoModelFactory):
    """A bulk operation row without items (``BulkOperationItemFactory`` adds
    them); for tests of the pages, not of the engine."""

    class Meta:
        model = "bulkops.BulkOperation"

    kind = "stage"
    target = "accounts"
    created_by = factory.SubFactory(UserFactory)
    company = factory.SelfAttribute("created_by.company")
    parameters = factory.LazyFunction(lambda: {"stage": "sent"})
    status = "succeeded"


class BulkOperationItemFactory(DjangoModelFactory):
    class Meta:
        model = "bulkops.BulkOperationItem"

    class Params:
        account = factory.SubFactory(AccountFactory)

    operation = factory.SubFactory(BulkOperationFactory)
    target_id = factory.LazyAttribute(lambda o: o.account.pk)
    outcome = "done"
