"""On PostgreSQL ``queue_messages`` fills messages in inside the database
(one INSERT ... SELECT a chunk, the placeholders' SQL forms). It must make
exactly the rows, and skip exactly the accounts with the reasons, that the
Python path makes for the same input: both paths run over the same awkward
data (markup and quotes in names, no creditor, no collector, a collector
with no name, negative balances, several accounts of one debtor, an SMS
too long for one account of a debtor and not another, consent and opt-out
states) and their results are compared whole."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import ContactPoint, DebtorPhone
from accounts.roles import ADMIN
from communications import services
from communications.models import Message
from tests.factories import (
    AccountFactory,
    BulkOperationFactory,
    ClaimFactory,
    DebtorEmailFactory,
    DebtorFactory,
    DebtorPhoneFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL path is PostgreSQL's"),
]

EVERY_PLACEHOLDER = (
    "{{debtorFirstName}}|{{debtorLastName}}|{{debtorFullName}}|{{fileNumber}}|"
    "{{accountBalance}}|{{creditorName}}|{{claimReference}}|{{claimBalance}}|"
    "{{claimDueDate}}|{{companyName}}|{{collectorName}}|{{optOutText}}"
)


@pytest.fixture
def accounts(company):
    admin = UserFactory(company=company, role=ADMIN)
    nameless = UserFactory(company=company, first_name="", last_name="", username="nameless")
    people = [
        DebtorFactory(first_name="Zoë <b>&", last_name='O\'Hara "Q"'),
        DebtorFactory(first_name="", last_name="Solo"),
        DebtorFactory(first_name="Ann", last_name=""),
        DebtorFactory(first_name="W" * 90, last_name="X" * 10),
    ]
    made = []
    for n, debtor in enumerate(people):
        DebtorEmailFactory(debtor=debtor, address=f"d{n}@example.net")
        DebtorPhoneFactory(debtor=debtor, number=f"+1555000{n:04d}", is_primary=False)
        DebtorPhoneFactory(
            debtor=debtor, number=f"+1666000{n:04d}", phone_type=DebtorPhone.PhoneType.HOME
        )
        for balance in (Decimal("1234567.89"), Decimal("-5.00")):
            made.append(
                AccountFactory(
                    company=company,
                    debtor=debtor,
                    current_balance=balance,
                    creditor=None if n == 1 else AccountFactory.creditor.get_factory()(),
                    assigned_to=(admin, nameless, None, admin)[n],
                )
            )
    ClaimFactory(account=made[0], reference="INV-<1>", balance=Decimal("12.30"),
                 due_date=dt.date(2026, 3, 1))  # fmt: skip
    ClaimFactory(account=made[0], reference="INV-later", balance=Decimal("1.00"),
                 due_date=dt.date(2027, 1, 1))  # fmt: skip
    ClaimFactory(account=made[2], reference="INV-paid", balance=Decimal("0.00"))
    # Too long once its claim is filled in; the debtor's other account is not.
    ClaimFactory(account=made[6], reference="R" * 40, balance=Decimal("1.00"))
    # The unreachable, for every reason.
    for change in (
        {"validity": ContactPoint.Validity.INVALID},
        {"email_opted_out": True, "sms_opted_out": True, "voice_opted_out": True},
        {"email_consent": False, "sms_consent": False, "voice_consent": False},
    ):
        account = AccountFactory(company=company)
        email_fields = {k: v for k, v in change.items() if k.startswith("email") or k == "validity"}
        phone_fields = {k: v for k, v in change.items() if not k.startswith("email")}
        DebtorEmailFactory(debtor=account.debtor, **email_fields)
        DebtorPhoneFactory(debtor=account.debtor, **phone_fields)
        made.append(account)
    made.append(AccountFactory(company=company))  # no email, no phone
    return made


COMPARED = ("company_id", "account_id", "channel", "template_version_id", "to", "subject",
            "text", "html", "state", "send_after", "ignore_rate_limit", "created_by_id",
            "rule", "reason", "attempts")  # fmt: skip


def run_both(monkeypatch, company, account_ids, content, **kwargs):
    """(rows, skipped) of the SQL path, then of the Python path."""
    results = []
    sender = UserFactory(company=company)
    send_after = timezone.now().replace(microsecond=0)
    for in_sql in (True, False):
        monkeypatch.setattr(services, "fills_in_sql", lambda c, in_sql=in_sql: in_sql)
        operation = BulkOperationFactory(created_by=sender)
        first, second = account_ids[: len(account_ids) // 2], account_ids[len(account_ids) // 2 :]
        skipped = {}
        for chunk in (first, second):  # a debtor served by the first chunk is not again
            outcomes = services.queue_messages(
                account_ids=[*chunk, 999_999_999],
                content=content,
                send_after=send_after,
                bulk_operation=operation,
                actor=operation.created_by,
                **kwargs,
            )
            for reason, ids in outcomes.skipped.items():
                skipped.update(dict.fromkeys(ids, reason))
        rows = sorted(Message.objects.filter(bulk_operation=operation).values_list(*COMPARED))
        results.append((rows, skipped))
    return results


@pytest.mark.parametrize("channel", ["email", "sms", "voice"])
def test_the_sql_path_makes_what_the_python_path_makes(monkeypatch, company, accounts, channel):
    if channel == "email":
        content = services.Content(
            "email",
            subject="About {{fileNumber}} & {{debtorFullName}}",
            html=f'<p>{EVERY_PLACEHOLDER}</p><a href="{{{{optOutLink}}}}">Stop</a>',
            text=f"{EVERY_PLACEHOLDER}|{{{{optOutLink}}}}",
        )
    else:
        content = services.Content(
            channel, text="Hi {{debtorFullName}}: {{claimReference}} Reply STOP to opt out"
        )
    ids = [a.pk for a in accounts]
    (sql_rows, sql_skipped), (py_rows, py_skipped) = run_both(monkeypatch, company, ids, content)
    assert sql_rows == py_rows and sql_rows
    assert sql_skipped == py_skipped
    if channel == "email":
        assert any("&lt;b&gt;&amp;" in row[7] and "O&#x27;Hara &quot;Q&quot;" in row[7]
                   for row in sql_rows)  # fmt: skip
    if channel == "sms":
        assert sql_skipped[accounts[6].pk] == services.TOO_LONG
        assert accounts[7].pk not in sql_skipped  # the debtor's other account fits


def test_a_chosen_claim_and_ignore_max_per_minute(monkeypatch, company, accounts):
    claim = ClaimFactory(account=accounts[1], reference="INV-chosen", balance=Decimal("0.00"))
    content = services.Content(
        "sms", text="{{claimReference}} {{claimBalance}} {{claimDueDate}} {{optOutText}}"
    )
    (sql_rows, sql_skipped), (py_rows, py_skipped) = run_both(
        monkeypatch,
        company,
        [accounts[1].pk],
        content,
        claim_id=claim.pk,
        ignore_rate_limit=True,
    )
    assert sql_rows == py_rows and sql_skipped == py_skipped
    assert sql_rows[0][6].startswith("INV-chosen $0.00 ")
    assert all(row[10] for row in sql_rows)  # Ignore Max Per Minute kept


def test_it_is_used_where_it_can_be():
    email = services.Content("email", subject="s", html="<p>{{debtorFirstName}}</p>")
    assert services.fills_in_sql(email)
    assert not services.fills_in_sql(services.Content("email", subject="s", text="free"))
    assert not services.fills_in_sql(
        services.Content("email", subject="s", html="{{customBody}}", custom_body="x")
    )
    assert services.fills_in_sql(services.Content("sms", text="{{optOutText}}"))


def _message_rows_read() -> int:
    """Rows of the message table this transaction has read so far, by any scan."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
            " FROM pg_stat_xact_user_tables WHERE relname = 'communications_message'"
        )
        return cursor.fetchone()[0]


def test_a_chunk_reads_none_of_the_batch_s_earlier_messages_but_its_own_debtors(company):
    """The "already has this batch's message" check probes the batch's
    messages for each account's debtor. With the table's statistics taken
    while it was empty (as before any large batch), the planner once hashed,
    or walked for every account, all the messages the batch had made so
    far, and a batch of a million slowed down chunk after chunk. Here a
    second chunk must read no more message rows than it has accounts.

    A table this small is cheapest to scan whole; at a million rows it is
    not, so the scan is ruled out here (for the rest of the test's
    transaction) to leave the planner the choices it has there."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE communications_message")  # statistics: no message at all
        cursor.execute("SET LOCAL enable_seqscan = off")
    earlier = []
    for _ in range(150):
        account = AccountFactory(company=company)
        DebtorEmailFactory(debtor=account.debtor)
        earlier.append(account.pk)
    later = []
    for _ in range(10):
        account = AccountFactory(company=company)
        DebtorEmailFactory(debtor=account.debtor)
        later.append(account.pk)
    content = services.Content("email", subject="s", html='<a href="{{optOutLink}}">x</a>',
                               text="{{debtorFirstName}} {{optOutLink}}")  # fmt: skip
    operation = BulkOperationFactory(created_by=UserFactory(company=company))
    queue = {"content": content, "send_after": timezone.now(), "bulk_operation": operation}
    services.queue_messages(account_ids=earlier, **queue)
    assert Message.objects.filter(bulk_operation=operation).count() == 150
    before = _message_rows_read()
    services.queue_messages(account_ids=later, **queue)
    assert _message_rows_read() - before <= len(later)
    assert Message.objects.filter(bulk_operation=operation).count() == 160
