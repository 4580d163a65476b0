"""The PostgreSQL COPY path of CSV exports (bulkops.exports.copy) against the
Python path (Catalogue.rows + cells.csv_cell + csv.writer): the same bytes
for every column of the account catalogue (accounts.columns, and the columns
billing adds to it), masked and unmasked, on data chosen to break them
(quoting, line breaks, formula prefixes, Unicode, empty and NULL values):
what proves that each column's SQL and Python masks and values agree."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.actions.export import ExportAccounts
from accounts.masking import PYTHON_WHITESPACE
from accounts.models import AccountFlag, CustomField, CustomFieldValue
from accounts.selectors import accounts_visible_to
from billing.services import decline_payment, post_ledger_entry, post_payment, record_payment
from bulkops.exports import cells, files
from bulkops.exports import copy as export_copy
from bulkops.exports.columns import Column
from tests.factories import (
    AccountFactory,
    AccountStatusFactory,
    ClaimFactory,
    ClientFactory,
    CompanyFactory,
    CreditorFactory,
    DebtorEmailFactory,
    DebtorFactory,
    DebtorPhoneFactory,
    FlagFactory,
    OfficeFactory,
    PortfolioFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="bulkops.exports.copy is the PostgreSQL-only COPY path of CSV exports",
    ),
]

UTC = dt.UTC
CATALOGUE = ExportAccounts.catalogue


def python_bytes(user, ids, columns) -> bytes:
    """The part file's bytes as ExportAccounts.apply writes them without COPY."""
    kinds = [cells.TEXT if mask else column.kind for column, mask in columns]
    handle = io.BytesIO()
    text, writer = files.text_writer(handle)
    for _, row in CATALOGUE.rows(ids, columns, user=user):
        writer.writerow([cells.csv_cell(raw, k) for raw, k in zip(row, kinds, strict=True)])
    text.detach()
    return handle.getvalue()


def assert_same_bytes(user, ids, columns, *, rows: int) -> bytes:
    expected = python_bytes(user, ids, columns)
    visible = list(
        accounts_visible_to(user).filter(pk__in=ids).order_by("pk").values_list("pk", flat=True)
    )
    got, copied = export_copy.copy_rows(
        CATALOGUE, columns, ids, today=timezone.localdate(), visible_to=accounts_visible_to(user)
    )
    assert copied == len(visible)
    # Splitting on the row end keeps equality exact and makes the diff readable.
    assert got.split(b"\r\n") == expected.split(b"\r\n")
    assert len(visible) == rows and expected.count(b"\r\n") >= rows
    return expected


def spec_columns(user, keys, *, masked) -> list[tuple[Column, bool]]:
    """(Column, mask) pairs through the real spec round trip of an export."""
    available = CATALOGUE.columns(user)
    chosen = [available[k] for k in keys]
    spec = CATALOGUE.spec(chosen, set(keys) if masked else set(), user=user)
    return CATALOGUE.resolve(spec, user=user)


@pytest.fixture
def tricky_ids(company, settings):
    """Five accounts of ``company`` whose every column is hard to write."""
    settings.TIME_ZONE = "America/New_York"  # last_worked_at is converted, not UTC
    status = AccountStatusFactory(name='Active, "hot"')
    client = ClientFactory(name="Smith & Söhne, Ltd.")
    portfolio = PortfolioFactory(client=client, name="=Portfolio 2024")
    common = {"company": company, "portfolio": portfolio, "client": client, "status": status}
    cora = UserFactory(username="cora", first_name="Cora", last_name="De  Luca", company=company)
    ghost = UserFactory(username="ghost.user", first_name="", last_name="", company=company)
    today = timezone.localdate()

    mary = DebtorFactory(
        first_name="Mary  Ann",  # two inner spaces: initials must not get an empty one
        last_name="de la Cruz-Ñúñez",
        state="NY",
        address_line1='Line "one", block\r\nUnit 5',
        address_line2="Apt\n2",
        city="São Paulo, 東京 🏙️",
        postal_code="=12207",
        country="BR",
    )
    DebtorEmailFactory(debtor=mary, address="old@example.com", is_primary=False)
    DebtorEmailFactory(debtor=mary, address="Zoë.O'Neil@exämple.com", is_primary=True)
    DebtorEmailFactory(debtor=mary, address="second@example.com", is_primary=False)
    DebtorPhoneFactory(debtor=mary, number="+1 (555) 555-0123", is_primary=True)
    evil = DebtorFactory(
        first_name="=SUM(A1)",
        last_name="+Plus  -Minus",
        state="",
        address_line1="-Minus",
        address_line2="Unit\r7",  # a bare CR
        city="@Town",
        postal_code="\t123",
    )
    dragon = DebtorFactory(first_name="李", last_name="小龙 🐉", state="XX", city="")
    DebtorEmailFactory(debtor=dragon, address="no-at-sign.example.com")
    DebtorPhoneFactory(debtor=dragon, number="12")
    jean = DebtorFactory(first_name=" Jean \t Luc ", last_name="Picard", state="CA")
    DebtorEmailFactory(debtor=jean, address="@example.com")
    DebtorPhoneFactory(debtor=jean, number="(020) 7946-0958 x12")
    cher = DebtorFactory(first_name="Cher", last_name="", state="TX", address_line1="\rCR first")

    a1 = AccountFactory(
        account_number="4000-1234-5678-9012",
        debtor=mary,
        creditor=CreditorFactory(name='Creditor "Quoted", Inc.'),
        office=OfficeFactory(company=company, name="@Office"),
        assigned_to=cora,
        stage="pending",
        last_worked_at=dt.datetime(2025, 3, 9, 6, 59, 30, tzinfo=UTC),  # before NY's DST jump
        default_date=today - dt.timedelta(days=10),
        **common,
    )
    a2 = AccountFactory(account_number="12", debtor=evil, creditor=None, stage="not_set", **common)
    a3 = AccountFactory(
        account_number="=1",
        debtor=dragon,
        assigned_to=ghost,
        stage="sent",
        last_worked_at=dt.datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC),
        default_date=today + dt.timedelta(days=3),  # in the future: negative days
        **common,
    )
    a4 = AccountFactory(account_number="", debtor=jean, default_date=today, **common)
    a5 = AccountFactory(account_number="-0042", debtor=cher, stage="", **common)

    first, second = ClaimFactory(account=a1), ClaimFactory(account=a1)
    post_ledger_entry(account=a1, kind="charge", amount="1000.00", claim=first)
    post_ledger_entry(account=a1, kind="charge", amount="284.50", claim=second)
    received = dt.datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
    post_payment(payment=record_payment(account=a1, amount="50.00", received_at=received))
    declined = record_payment(account=a1, amount="10.00", received_at=received)
    decline_payment(payment=declined, reason="NSF")
    refund = ClaimFactory(account=a3)
    post_ledger_entry(account=a3, kind="credit", amount="-7.25", claim=refund)
    post_ledger_entry(account=a3, kind="credit", amount="-5.00")

    for name in ("Zebra", "Alpha, Beta", "=Danger", "Ñandú", 'Say "hi"'):
        AccountFlag.objects.create(account=a1, flag=FlagFactory(name=name))
    AccountFlag.objects.create(account=a3, flag=FlagFactory(name="Solo"))

    region = CustomField.objects.create(name="Region", key="region")
    score = CustomField.objects.create(name="Score", key="score", field_type="number")
    since = CustomField.objects.create(name="Since", key="since", field_type="date")
    CustomField.objects.create(name="Legacy", key="legacy", is_active=False)
    values = {
        (a1, region): 'North, "East"\nZone',
        (a2, region): "\rLeading CR",
        (a4, region): "",
        (a1, score): "-12.50",
        (a2, score): "=1+1",
        (a3, score): "0",
        (a5, score): "1e5",
        (a1, since): "2025-01-31",
        (a3, since): "=TODAY()",
    }
    CustomFieldValue.objects.bulk_create(
        CustomFieldValue(account=account, field=field, value=value)
        for (account, field), value in values.items()
    )
    return [a.pk for a in (a1, a2, a3, a4, a5)]


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_every_column_same_bytes(supervisor, tricky_ids, masked):
    keys = list(CATALOGUE.columns(supervisor))
    assert {"cf:region", "cf:score", "cf:since"} <= set(keys) and "cf:legacy" not in keys
    columns = spec_columns(supervisor, keys, masked=masked)
    assert {c.key for c, mask in columns if mask} == (
        CATALOGUE.sensitive_keys(supervisor) if masked else set()
    )
    written = assert_same_bytes(supervisor, tricky_ids, columns, rows=len(tricky_ids))
    # The data really is tricky: quoted line breaks, escaped formulas, doubled quotes.
    fragments = ['"Line ""one"", block\r\nUnit 5"', '"Unit\r7"', '"\'\rCR first"', "'=12207"]
    assert all(fragment.encode() in written for fragment in fragments)


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("creditor", False),
        ("office", False),
        ("assigned_to", False),
        ("email", False),
        ("email", True),
        ("phone", True),
        ("account_number", True),
        ("city", False),
        ("state", False),
        ("stage", False),
        ("flags", False),
        ("last_worked_at", False),
        ("last_payment_amount", False),
        ("days_since_default", False),
        ("cf:region", False),
        ("cf:score", False),
        ("cf:since", False),
    ],
)
def test_single_column_with_empty_cells(supervisor, tricky_ids, key, masked):
    """A row of one empty cell is ``""`` in Python's csv (not a blank line)."""
    columns = spec_columns(supervisor, [key], masked=masked)
    written = assert_same_bytes(supervisor, tricky_ids, columns, rows=len(tricky_ids))
    assert b'""' in written.split(b"\r\n")


@pytest.mark.parametrize(
    ("key", "masked", "data"),
    [
        # Python's str.split()/strip() whitespace (NBSP, ideographic space, ...).
        ("debtor", True, {"debtor": {"first_name": "Mary\u00a0Ann", "last_name": "Lee"}}),
        ("debtor", True, {"debtor": {"first_name": "\u3000Yamada\u3000Taro", "last_name": "\x1c"}}),
        ("debtor", False, {"debtor": {"first_name": "Zoë", "last_name": "Müller\u00a0"}}),
        ("assigned_to", False, {"user": {"first_name": "\u00a0", "last_name": ""}}),
        # Only ASCII digits are kept, in both paths.
        ("phone", True, {"phone": "０９０-１２３４-５６７８"}),
        ("phone", True, {"phone": "(555) 010-9876 ²"}),
        # The fast paths: names without whitespace, numbers ending in four digits.
        ("debtor", True, {"debtor": {"first_name": "=cmd", "last_name": "Ödön"}}),
        ("debtor", True, {"debtor": {"first_name": "", "last_name": "-Solo"}}),
        ("debtor", True, {"debtor": {"first_name": "李", "last_name": ""}}),
        ("phone", True, {"phone": "+15555550123"}),
        ("phone", True, {"phone": "０９０5678"}),
    ],
    ids=[
        "masked-nbsp", "masked-ideographic", "name-nbsp", "collector-nbsp", "fullwidth", "ext",
        "one-word-names-formula", "last-name-only", "first-name-only", "e164", "ascii-tail",
    ],
)  # fmt: skip
def test_unicode_whitespace_and_digits_match(supervisor, company, key, masked, data):
    debtor = DebtorFactory(**data.get("debtor", {}))
    if "phone" in data:
        DebtorPhoneFactory(debtor=debtor, number=data["phone"])
    user = UserFactory(username="nbsp.user", company=company, **data.get("user", {}))
    account = AccountFactory(company=company, debtor=debtor, assigned_to=user)
    columns = spec_columns(supervisor, [key], masked=masked)
    assert_same_bytes(supervisor, [account.pk], columns, rows=1)


def test_python_whitespace_is_every_isspace_character():
    expected = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    assert expected == PYTHON_WHITESPACE


def test_a_lone_backslash_dot_is_quoted_by_copy_but_reads_back_the_same(supervisor, company):
    """COPY quotes a one-cell row of ``\\.`` (its end-of-data marker); Python's
    csv does not. Both are the same value to a CSV reader."""
    account = AccountFactory(company=company, debtor=DebtorFactory(city="\\."))
    columns = spec_columns(supervisor, ["city"], masked=False)
    python = python_bytes(supervisor, [account.pk], columns)
    copied, rows = export_copy.copy_rows(
        CATALOGUE, columns, [account.pk], today=timezone.localdate()
    )
    assert (python, copied, rows) == (b"\\.\r\n", b'"\\."\r\n', 1)
    read = [list(csv.reader(io.StringIO(b.decode(), newline=""))) for b in (python, copied)]
    assert read[0] == read[1] == [["\\."]]


def test_accounts_no_longer_visible_are_left_out_and_counted(company, supervisor):
    mine = AccountFactory(company=company)
    other = AccountFactory()  # another company's
    columns = spec_columns(supervisor, ["file_number"], masked=False)
    data, rows = export_copy.copy_rows(
        CATALOGUE,
        columns,
        [mine.pk, other.pk],
        today=timezone.localdate(),
        visible_to=accounts_visible_to(supervisor),
    )
    assert (data, rows) == (f"{mine.file_number}\r\n".encode(), 1)


@pytest.mark.parametrize(
    ("copy_output", "expected"),
    [
        (b"", b""),
        (b"a,b\nc,\n", b"a,b\r\nc,\r\n"),
        (b'1,"x\ny"\n2,z\n', b'1,"x\ny"\r\n2,z\r\n'),
        (b'1,"x\r\ny\n\nz"\n', b'1,"x\r\ny\n\nz"\r\n'),
        (b'"say ""hi""\nthere",x\n"a""\n""b"\n', b'"say ""hi""\nthere",x\r\n"a""\n""b"\r\n'),
        (b'"""",""""""\n', b'"""",""""""\r\n'),
    ],
    ids=[
        "empty",
        "plain",
        "quoted-lf",
        "quoted-crlf-and-blank-line",
        "doubled-quotes",
        "quotes-only",
    ],
)
def test_to_crlf(copy_output, expected):
    assert export_copy.to_crlf(copy_output) == expected


def test_visibility_of_everyone_and_of_no_one(company):
    account = AccountFactory(company=company)
    columns = spec_columns(UserFactory(is_superuser=True), ["file_number"], masked=False)
    today = timezone.localdate()
    operator = UserFactory(is_superuser=True, company=None)
    everything = export_copy.copy_rows(
        CATALOGUE, columns, [account.pk], today=today, visible_to=accounts_visible_to(operator)
    )
    assert everything == (f"{account.file_number}\r\n".encode(), 1)
    nobody = UserFactory(company=None)
    assert export_copy.copy_rows(
        CATALOGUE, columns, [account.pk], today=today, visible_to=accounts_visible_to(nobody)
    ) == (b"", 0)


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([5, 6, 7, 8], "a.id BETWEEN 5 AND 8"),
        ([8, 5, 6, 10, 9], "a.id BETWEEN 5 AND 10 AND a.id <> ALL('{7}'::bigint[])"),
        ([1, 50, 99], "a.id = ANY('{1,50,99}'::bigint[])"),
        ([], "false"),
    ],
    ids=["whole-range", "range-less-a-gap", "sparse", "empty"],
)
def test_which_accounts_a_statement_reads(ids, expected):
    assert export_copy.id_condition(ids) == expected


def _reversed_debtors(company, count):
    """Accounts whose debtors were created in the opposite order, so a chunk's
    range of debtor ids is as wide as it can be."""
    debtors = [DebtorFactory(first_name=f"N{i}", city=f"=City {i}") for i in range(count)]
    accounts = []
    for debtor in reversed(debtors):
        DebtorEmailFactory(debtor=debtor, address=f"{debtor.first_name}@example.com")
        DebtorPhoneFactory(debtor=debtor, number=f"+1555000{debtor.pk % 10000:04d}")
        accounts.append(AccountFactory(company=company, debtor=debtor))
    return [a.pk for a in accounts]


@pytest.mark.parametrize(
    "pick",
    [range(10), range(0, 10, 3), [0, 1, 2, 3, 5, 6, 7, 8, 9]],
    ids=["contiguous", "sparse", "one-gap"],
)
def test_any_choice_of_accounts_gives_the_same_bytes(supervisor, company, pick):
    ids = _reversed_debtors(company, 10)
    chosen = [ids[i] for i in pick]
    keys = ["file_number", "debtor", "email", "phone", "city"]
    for masked in (False, True):
        columns = spec_columns(supervisor, keys, masked=masked)
        assert_same_bytes(supervisor, chosen, columns, rows=len(chosen))


@pytest.mark.django_db(transaction=True)
def test_a_long_chunk_is_copied_in_two_halves_on_two_connections(monkeypatch):
    """The second half runs on a helper thread's own connection (it reads what
    is committed, hence a transactional test); the bytes are the same."""
    company = CompanyFactory()
    # A transactional test starts without the roles' groups: a superuser needs none.
    supervisor = UserFactory(company=company, is_superuser=True)
    ids = _reversed_debtors(company, 7)
    monkeypatch.setattr(export_copy, "SPLIT_ROWS", 2)
    helpers = []
    real = export_copy._copy_on_own_connection

    def spy(statement):
        helpers.append(threading.get_ident())
        return real(statement)

    monkeypatch.setattr(export_copy, "_copy_on_own_connection", spy)
    columns = spec_columns(supervisor, ["file_number", "debtor", "email", "phone"], masked=True)
    with transaction.atomic():
        assert_same_bytes(supervisor, ids, columns, rows=7)
    assert len(helpers) == 1 and helpers[0] != threading.get_ident()
