"""The bulk write-off file (seed 002): files in every common shape read the
same; bad files are refused naming the line and store nothing; the preview
says who is eligible and why not, ordered by days since default; another
company's account reads as one that does not exist; Save runs the bulk
operation over the eligible accounts, each checked again, bulk write-offs
told apart in the database; balances reconcile."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AccountStatus
from billing import write_off_files
from billing.models import LedgerEntry, WriteOffFile, WriteOffFileRow
from billing.selectors import find_balance_discrepancies
from billing.services import post_ledger_entry
from bulkops import services
from tests.bulkops.test_actions import enqueued  # noqa: F401  (the engine's queue, in-process)
from tests.factories import AccountStatusFactory, ClaimFactory, UserFactory, create_accounts

pytestmark = pytest.mark.django_db
Category = AccountStatus.Category


def upload(content: bytes | str, name: str = "accounts.csv") -> SimpleUploadedFile:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


@pytest.fixture
def accounts(company):
    default = AccountStatusFactory(name="In default", category=Category.DEFAULT)
    active = AccountStatusFactory(name="Active")
    terminated = AccountStatusFactory(name="Terminated", category=Category.TERMINATED)
    made = create_accounts(5, company=company, status=default)
    today = timezone.localdate()
    for days, account in zip((90, 10, 400, None, 30), made, strict=True):
        Account.objects.filter(pk=account.pk).update(
            default_date=today - dt.timedelta(days=days) if days is not None else None
        )
    Account.objects.filter(pk=made[3].pk).update(status=active)
    Account.objects.filter(pk=made[4].pk).update(status=terminated)
    for account in made:
        claim = ClaimFactory(account=account, balance=Decimal("0.00"))
        post_ledger_entry(
            account=account, kind=LedgerEntry.Kind.CHARGE, amount=Decimal("25.50"), claim=claim
        )
    return [Account.objects.get(pk=a.pk) for a in made]


@pytest.mark.parametrize(
    "content",
    [
        "Account ID\n{0}\n{1}\n",  # UTF-8 with a heading
        "\ufeff{0}\r\n\r\n{1}\r\n{0}\r\n",  # a BOM, CRLF, a blank and a repeated line
        "{0};x\n{1};y\n",  # a semicolon CSV with a second column
    ],
)
def test_files_in_every_common_shape_read_the_same(accounts, content):
    text = content.format(accounts[0].file_number, accounts[1].file_number.lower())
    read = write_off_files.read_references(upload(text))
    assert [reference for _, reference in read][:1] == [accounts[0].file_number]
    assert {r for _, r in read} >= {accounts[0].file_number}


def test_latin1_and_txt_files_are_read():
    read = write_off_files.read_references(upload("Num\u00e9ro\nAB-1\n".encode("latin-1"), "a.txt"))
    assert [r for _, r in read] == ["NUMÉRO", "AB-1"]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"ok\nAB\x00\x01CD\n", "a.csv", "Line 2 of “a.csv” is not text"),
        ("A1\nnot an id at all\n", "a.csv", "Line 2 of “a.csv” is not an account ID"),
        ("A1\n", "a.xlsx", "is not a .txt or .csv file"),
        ("\n\n", "a.csv", "has no account ID in it"),
        ("".join(f"F{n:07d}\n" for n in range(2001)), "big.csv", "has 2,001 entries; a file"),
    ],
)
def test_bad_files_are_refused_naming_the_line_and_store_nothing(
    supervisor, content, name, message
):
    with pytest.raises(write_off_files.WriteOffFileError, match=message):
        write_off_files.preview_write_off_file(user=supervisor, upload=upload(content, name))
    assert not WriteOffFile.objects.exists() and not WriteOffFileRow.objects.exists()


def test_the_preview_says_who_is_eligible_ordered_by_days_since_default(
    supervisor, accounts, other_company
):
    theirs = create_accounts(1, company=other_company)[0]
    content = "\n".join([*(a.file_number for a in accounts), theirs.file_number, "NOPE-1"])
    written = write_off_files.preview_write_off_file(user=supervisor, upload=upload(content))
    assert (written.entries, written.eligible) == (7, 3)
    rows = list(write_off_files.preview_rows(written))
    assert [r.reference for r in rows[:3]] == [
        accounts[1].file_number,  # 10 days
        accounts[4].file_number,  # 30
        accounts[0].file_number,  # 90
    ]
    by_reference = {row.reference: row for row in rows}
    assert by_reference[accounts[3].file_number].reason == write_off_files.NOT_IN_DEFAULT
    assert by_reference[accounts[4].file_number].reason == write_off_files.TERMINATED
    # Another company's account reads exactly like one that does not exist.
    assert by_reference[theirs.file_number].reason == write_off_files.NOT_FOUND
    assert by_reference["NOPE-1"].reason == write_off_files.NOT_FOUND
    assert by_reference[theirs.file_number].customer_name == ""
    # A repossession makes an account outside default eligible.
    Account.objects.filter(pk=accounts[3].pk).update(repossessed_on=timezone.localdate())
    again = write_off_files.preview_write_off_file(user=supervisor, upload=upload(content))
    assert again.eligible == 4


def test_save_writes_off_the_eligible_and_fails_what_changed_since(client, supervisor, accounts):
    content = "\n".join(a.file_number for a in accounts)
    client.force_login(supervisor)
    response = client.post(reverse("billing:write-off-file-upload"), {"file": upload(content)})
    written = WriteOffFile.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{written.pk}/")
    page = client.get(response["Location"]).content.decode()
    assert "<strong>3</strong> of 5 accounts can be written off" in page
    # Terminated between the preview and the save.
    Account.objects.filter(pk=accounts[1].pk).update(terminated_on=timezone.localdate())

    response = client.post(
        reverse("billing:write-off-file-save", args=[written.pk]), {"note": "Q4"}
    )
    written.refresh_from_db()
    operation = written.bulk_operation
    assert response["Location"].endswith(f"/bulk/{operation.pk}/")
    assert services.run_operation(operation.pk) == "finished"
    operation.refresh_from_db()
    assert (operation.kind, operation.total, operation.succeeded, operation.failed) == (
        "write_off_file", 3, 2, 1,
    )  # fmt: skip
    item = operation.items.with_settled_outcome().get(target_id=accounts[1].pk)
    assert (item.settled, item.reason) == ("failed", write_off_files.TERMINATED)
    balances = dict(Account.objects.values_list("pk", "current_balance"))
    assert balances[accounts[0].pk] == balances[accounts[2].pk] == 0
    assert balances[accounts[3].pk] == Decimal("25.50")  # not in default: not written off
    # Bulk write-offs are told apart from single ones in the database.
    credits = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CREDIT)
    assert set(credits.values_list("context", "bulk_operation")) == {
        (LedgerEntry.Context.BULK, operation.pk)
    }
    assert find_balance_discrepancies() == []
    # Saving again (a double click) starts nothing more.
    client.post(reverse("billing:write-off-file-save", args=[written.pk]))
    assert type(operation).objects.filter(kind="write_off_file").count() == 1


def test_only_the_uploader_with_the_permission_sees_a_file(client, supervisor, collector, accounts):
    written = write_off_files.preview_write_off_file(
        user=supervisor, upload=upload(accounts[0].file_number)
    )
    client.force_login(collector)
    assert client.get(reverse("billing:write-off-file-upload")).status_code == 403
    assert client.get(reverse("billing:write-off-file", args=[written.pk])).status_code == 403
    other = UserFactory(username="sam", company=supervisor.company, role="Supervisor")
    client.force_login(other)
    assert client.get(reverse("billing:write-off-file", args=[written.pk])).status_code == 404
    assert client.post(reverse("billing:write-off-file-save", args=[written.pk])).status_code == 404
