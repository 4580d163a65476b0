"""Export Accounts through the engine in-process and through its pages: the
exact bytes and cells of a small known dataset (headers, order, masking,
formula escaping, Unicode, Decimal precision), masking rules, bad input,
exactly-once files when chunks are redone, sheet rollover, saved templates,
and who may download the file until when."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from accounts.actions.export import ExportAccounts
from accounts.columns import DEFAULT_COLUMNS
from accounts.models import AccountFlag, CustomField, CustomFieldValue
from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from accounts.selectable import ACCOUNTS
from billing.services import post_ledger_entry, post_payment, record_payment
from bulkops import services
from bulkops.exports import files, templates
from bulkops.exports.cells import CURRENCY_FORMAT
from bulkops.exports.downloads import download_state
from bulkops.models import (
    AuditEvent,
    BulkOperation,
    BulkOperationItem,
    ExportFile,
    ExportPart,
    ExportTemplate,
)
from bulkops.registry import Chunk, ChunkItem
from bulkops.selection import Selection
from bulkops.services import engine
from tests.factories import (
    AccountFactory,
    AccountStatusFactory,
    ClaimFactory,
    ClientFactory,
    CreditorFactory,
    DebtorEmailFactory,
    DebtorFactory,
    DebtorPhoneFactory,
    FlagFactory,
    OfficeFactory,
    PortfolioFactory,
    UserFactory,
    create_accounts,
)

pytestmark = pytest.mark.django_db

BOM = "\ufeff".encode()
HTMX = {"HX-Request": "true"}
MASKABLE = ["debtor", "account_number", "email", "phone"]


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(engine, "enqueue_operation", calls.append)
    return calls


@pytest.fixture(autouse=True)
def storage(settings, tmp_path):
    """Files go to this test's own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path / "media"


@dataclass
class Data:
    a1: object
    a2: object
    a3: object

    @property
    def accounts(self):
        return [self.a1, self.a2, self.a3]


@pytest.fixture
def data(company) -> Data:
    """Three accounts: Zoë Müller with claims, payment, flags and custom values;
    a debtor whose name and address would run as formulas; one in credit."""
    status = AccountStatusFactory(name="Active")
    client = ClientFactory(name="Northwind Bank")
    portfolio = PortfolioFactory(client=client, name="Northwind 2024")
    common = {"company": company, "portfolio": portfolio, "client": client, "status": status}
    cora = UserFactory(
        username="cora", first_name="Cora", last_name="Collector", company=company, role=COLLECTOR
    )
    zoe = DebtorFactory(
        first_name="Zoë",
        last_name="Müller",
        state="NY",
        address_line1="1 Main St",
        address_line2="Apt 2",
        city="Albany",
        postal_code="12207",
    )
    DebtorEmailFactory(debtor=zoe, address="old@example.com", is_primary=False)
    DebtorEmailFactory(debtor=zoe, address="zoe@example.com", is_primary=True)
    DebtorPhoneFactory(debtor=zoe, number="+15555550123", is_primary=True)
    evil = DebtorFactory(
        first_name="=SUM(A1)",
        last_name="Smith",
        state="CA",
        address_line1="\tTabbed",
        city="-Minus",
        postal_code="90001",
    )
    ann = DebtorFactory(first_name="Ann", last_name="O'Neil", state="", city="@Town")
    DebtorEmailFactory(debtor=ann, address="ann@example.org", is_primary=True)
    DebtorPhoneFactory(debtor=ann, number="+1 (555) 555-9876", is_primary=True)

    a1 = AccountFactory(
        file_number="F0000001",
        account_number="4000123412341234",
        debtor=zoe,
        creditor=CreditorFactory(name="First Creditor Co"),
        office=OfficeFactory(company=company, name="Albany Office"),
        assigned_to=cora,
        stage="pending",
        last_worked_at=dt.datetime(2025, 3, 1, 14, 30, tzinfo=dt.UTC),
        default_date=timezone.localdate() - dt.timedelta(days=10),
        **common,
    )
    a2 = AccountFactory(
        file_number="F0000002",
        account_number="4000999988887777",
        debtor=evil,
        creditor=None,
        **common,
    )
    a3 = AccountFactory(
        file_number="F0000003", account_number="4000000000000003", debtor=ann, **common
    )
    # Money moves through billing.services: 1,000.00 + 284.50 charged, 50.00 paid.
    first = ClaimFactory(account=a1, reference="INV-1")
    second = ClaimFactory(account=a1, reference="INV-2")
    post_ledger_entry(account=a1, kind="charge", amount="1000.00", claim=first)
    post_ledger_entry(account=a1, kind="charge", amount="284.50", claim=second)
    payment = record_payment(
        account=a1,
        amount="50.00",
        claim=first,
        received_at=dt.datetime(2025, 3, 15, 12, 0, tzinfo=dt.UTC),
    )
    post_payment(payment=payment)
    post_ledger_entry(account=a3, kind="credit", amount="-5.00")
    for name in ("Hardship", "Dispute"):
        AccountFlag.objects.create(account=a1, flag=FlagFactory(name=name))
    region = CustomField.objects.create(name="Region", key="region")
    score = CustomField.objects.create(name="Score", key="score", field_type="number")
    legacy = CustomField.objects.create(name="Legacy", key="legacy", is_active=False)
    CustomFieldValue.objects.bulk_create(
        [
            CustomFieldValue(account=a1, field=region, value="North-East"),
            CustomFieldValue(account=a2, field=region, value='=HYPERLINK("http://x")'),
            CustomFieldValue(account=a1, field=score, value="-12.5"),
            CustomFieldValue(account=a3, field=score, value="n/a"),
            CustomFieldValue(account=a1, field=legacy, value="old"),
        ]
    )
    return Data(a1, a2, a3)


def start(user, accounts, data, *, count=None) -> BulkOperation:
    ids = [a.pk for a in accounts]
    return services.start_operation(
        user=user,
        action_key="export",
        selection=Selection("accounts", ids=frozenset(ids)),
        confirmed_count=len(ids) if count is None else count,
        data=data,
        idempotency_key=uuid.uuid4().hex,
    )


def run(user, accounts, data) -> BulkOperation:
    operation = start(user, accounts, data)
    assert services.run_operation(operation.pk) == "finished"
    operation.refresh_from_db()
    return operation


def file_bytes(operation) -> bytes:
    with default_storage.open(operation.export_file.name, "rb") as handle:
        return handle.read()


def csv_rows(operation) -> list[list[str]]:
    content = file_bytes(operation)
    assert content.startswith(BOM)
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def stored_files(storage) -> list[str]:
    return sorted(str(p.relative_to(storage)) for p in storage.rglob("*") if p.is_file())


def user_with(company, *codenames, username=None) -> object:
    """A user of ``company`` holding exactly these permissions (through a group)."""
    group = Group.objects.create(name=f"perms-{uuid.uuid4().hex[:8]}")
    group.permissions.add(*Permission.objects.filter(codename__in=codenames))
    user = UserFactory(company=company, **({"username": username} if username else {}))
    user.groups.add(group)
    return user


EXPORTER = ["export_accounts", "add_bulkoperation", "view_bulkoperation"]


# --- the file's content ---------------------------------------------------------------------


def test_csv_bytes_masked_by_default(supervisor, data):
    columns = [
        "file_number", "debtor", "account_number", "email", "phone", "current_balance",
        "claims_count", "claims_balance", "city", "cf:region",
    ]  # fmt: skip
    operation = run(
        supervisor, data.accounts, {"format": "csv", "columns": columns, "mask": MASKABLE}
    )
    assert (operation.status, operation.succeeded) == ("succeeded", 3)
    expected = (
        "\ufeffFile Number,Debtor,Account,Email,Phone,Current Balance,Claims,Claims Balance,"
        "City,Region\r\n"
        "F0000001,Z. M.,****1234,z***@example.com,***-***-0123,1234.50,2,1234.50,Albany,"
        "North-East\r\n"
        'F0000002,\'=. S.,****7777,,,0.00,0,0.00,\'-Minus,"\'=HYPERLINK(""http://x"")"\r\n'
        "F0000003,A. O.,****0003,a***@example.org,***-***-9876,-5.00,0,0.00,'@Town,\r\n"
    )
    assert file_bytes(operation) == expected.encode()
    export_file = operation.export_file
    assert (export_file.format, export_file.rows, export_file.size) == (
        "csv",
        3,
        len(expected.encode()),
    )
    assert export_file.name == f"exports/{operation.pk}/accounts-{operation.pk}.csv"
    created = AuditEvent.objects.get(action="export.created", bulk_operation=operation)
    assert created.actor == supervisor
    assert created.changes == {
        "file": [None, export_file.name],
        "rows": [None, 3],
        "unmasked_columns": [None, []],
    }


def test_csv_every_column_unmasked_in_the_chosen_order(supervisor, data):
    available = ExportAccounts.catalogue.columns(supervisor)
    keys = list(available)
    assert "cf:legacy" not in keys  # inactive custom fields are not offered
    keys = [keys[-1], *keys[:-1]]  # any order: the last one first
    operation = run(supervisor, data.accounts, {"format": "csv", "columns": keys, "mask": []})
    header, *rows = csv_rows(operation)
    assert header == [available[k].label for k in keys]
    assert header[:3] == ["Score", "File Number", "Client"]
    by_file = {row[1]: dict(zip(header, row, strict=True)) for row in rows}
    assert list(by_file) == ["F0000001", "F0000002", "F0000003"]
    last_worked = timezone.localtime(data.a1.last_worked_at).strftime("%Y-%m-%d %H:%M")
    assert by_file["F0000001"] == {
        "Score": "-12.5",
        "File Number": "F0000001",
        "Client": "Northwind Bank",
        "Portfolio": "Northwind 2024",
        "Account": "4000123412341234",
        "Debtor": "Zoë Müller",
        "Status": "Active",
        "Current Balance": "1234.50",
        "Assigned To": "Cora Collector",
        "Creditor": "First Creditor Co",
        "Last Worked": last_worked,
        "Last Payment Amount": "50.00",
        "Last Payment Date": "2025-03-15",
        "State": "New York",
        "Declined Transactions": "0",
        "Stage": "Pending",
        "Flags": "Dispute, Hardship",
        "Days Since Default": "10",
        "Office": "Albany Office",
        "Email": "zoe@example.com",
        "Phone": "'+15555550123",
        "Address Line 1": "1 Main St",
        "Address Line 2": "Apt 2",
        "City": "Albany",
        "Postal Code": "12207",
        "Country": "US",
        "Claims": "2",
        "Claims Balance": "1234.50",
        "Region": "North-East",
    }
    second = by_file["F0000002"]
    assert second["Debtor"] == "'=SUM(A1) Smith"
    assert second["Address Line 1"] == "'\tTabbed"
    assert (second["Creditor"], second["Office"], second["Assigned To"]) == ("", "", "")
    assert (second["Last Worked"], second["Flags"], second["Days Since Default"]) == ("", "", "")
    assert (second["Email"], second["Phone"], second["Score"]) == ("", "", "")
    third = by_file["F0000003"]
    assert (third["Phone"], third["Current Balance"], third["Score"]) == (
        "'+1 (555) 555-9876",
        "-5.00",  # a negative amount is a number, never escaped
        "n/a",
    )
    assert third["State"] == ""
    created = AuditEvent.objects.get(action="export.created", bulk_operation=operation)
    assert created.changes["unmasked_columns"] == [
        None,
        ["account_number", "debtor", "email", "phone"],
    ]


def test_xlsx_typed_cells(supervisor, data):
    columns = [
        "file_number", "debtor", "current_balance", "last_payment_date", "last_worked_at",
        "claims_count", "city", "cf:region", "cf:score", "email",
    ]  # fmt: skip
    operation = run(supervisor, data.accounts, {"format": "xlsx", "columns": columns, "mask": []})
    assert operation.export_file.name.endswith(f"accounts-{operation.pk}.xlsx")
    workbook = load_workbook(io.BytesIO(file_bytes(operation)))
    assert workbook.sheetnames == ["Accounts"]
    sheet = workbook["Accounts"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (
        "File Number", "Debtor", "Current Balance", "Last Payment Date", "Last Worked",
        "Claims", "City", "Region", "Score", "Email",
    )  # fmt: skip
    naive_worked = timezone.localtime(data.a1.last_worked_at).replace(tzinfo=None, second=0)
    assert rows[1] == (
        "F0000001", "Zoë Müller", 1234.5, dt.datetime(2025, 3, 15), naive_worked,
        2, "Albany", "North-East", -12.5, "zoe@example.com",
    )  # fmt: skip
    assert rows[2] == (
        "F0000002", "=SUM(A1) Smith", 0, None, None, 0, "-Minus", '=HYPERLINK("http://x")',
        None, None,
    )  # fmt: skip
    assert rows[3] == (
        "F0000003", "Ann O'Neil", -5, None, None, 0, "@Town", None, "n/a", "ann@example.org",
    )  # fmt: skip
    # Amounts are numbers in a currency format, dates are dates, formulas are text.
    assert sheet["C2"].data_type == "n" and sheet["C2"].number_format == CURRENCY_FORMAT
    assert sheet["D2"].is_date and sheet["D2"].number_format == "yyyy-mm-dd"
    assert sheet["E2"].is_date and sheet["E2"].number_format == "yyyy-mm-dd hh:mm"
    assert sheet["F2"].data_type == "n"
    for cell in (sheet["B3"], sheet["H3"]):
        assert cell.data_type == "s", cell.coordinate
    assert sheet["A1"].font.b


def test_sheets_roll_over_at_the_row_limit(supervisor, company, monkeypatch):
    monkeypatch.setattr(files, "XLSX_MAX_ROWS", 3)  # a header and two rows a sheet
    monkeypatch.setattr(ExportAccounts, "chunk_size", 2)
    monkeypatch.setattr(ExportAccounts, "copy_chunk_size", 2)
    accounts = create_accounts(5, company=company)
    operation = run(supervisor, accounts, {"format": "xlsx", "columns": ["file_number"]})
    workbook = load_workbook(io.BytesIO(file_bytes(operation)))
    assert workbook.sheetnames == ["Accounts", "Accounts (2)", "Accounts (3)"]
    sheets = [[row[0] for row in ws.iter_rows(values_only=True)] for ws in workbook]
    numbers = [a.file_number for a in accounts]
    assert sheets == [
        ["File Number", *numbers[0:2]],
        ["File Number", *numbers[2:4]],
        ["File Number", numbers[4]],
    ]
    assert operation.export_file.rows == 5


# --- masking rules --------------------------------------------------------------------------


def test_without_the_unmask_permission_everything_sensitive_is_masked(company, data):
    exporter = user_with(company, *EXPORTER)
    operation = start(
        exporter,
        data.accounts,
        {"format": "csv", "columns": ["file_number", *MASKABLE], "mask": []},
    )
    assert [c["mask"] for c in operation.parameters["columns"]] == [False, True, True, True, True]
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    assert csv_rows(operation)[1] == [
        "F0000001", "Z. M.", "****1234", "z***@example.com", "***-***-0123",
    ]  # fmt: skip


def test_a_shared_template_cannot_unmask_for_a_user_without_the_permission(
    client, company, supervisor, data
):
    template = ExportTemplate.objects.create(
        name="Full",
        owner=supervisor,
        company=company,
        shared=True,
        format="csv",
        columns=[{"key": "file_number", "mask": False}, {"key": "email", "mask": False}],
    )
    exporter = user_with(company, *EXPORTER)
    client.force_login(exporter)
    content = client.get(reverse("bulkops:export-fields"), {"template": template.pk}).content
    content = content.decode()
    assert re.search(r'name="mask" value="email"[^>]* checked disabled', content)
    assert "You may export sensitive columns masked only." in content
    # Posting the template's own choice (nothing masked) still masks.
    operation = start(
        exporter,
        data.accounts,
        {"format": "csv", "columns": ["file_number", "email"], "template": str(template.pk)},
    )
    assert operation.parameters["template_name"] == "Full"
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    assert csv_rows(operation)[1] == ["F0000001", "z***@example.com"]


def test_masking_is_enforced_again_when_the_chunks_run(company, data):
    exporter = user_with(company, *EXPORTER, "view_unmasked_data")
    operation = start(
        exporter, data.accounts, {"format": "csv", "columns": ["file_number", "phone"]}
    )
    assert operation.parameters["columns"][1]["mask"] is False
    # The right is withdrawn between the confirmation and the run.
    exporter.groups.get().permissions.remove(Permission.objects.get(codename="view_unmasked_data"))
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    assert csv_rows(operation)[1] == ["F0000001", "***-***-0123"]
    created = AuditEvent.objects.get(action="export.created", bulk_operation=operation)
    assert created.changes["unmasked_columns"] == [None, []]


# --- bad input: a clear message, nothing written --------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"format": "pdf", "columns": ["file_number"]},
            "format",
            "Unknown format “pdf”: choose CSV or Excel (XLSX).",
        ),
        ({"format": "csv"}, "columns", "Choose at least one column to export."),
        (
            {"format": "csv", "columns": ["file_number", "nope", "cf:legacy"]},
            "columns",
            "Unknown columns: nope, cf:legacy. It may have been removed; pick the columns again.",
        ),
    ],
)
def test_bad_input_is_refused(supervisor, company, storage, data, field, message):
    accounts = create_accounts(2, company=company)
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(supervisor, accounts, data)
    assert excinfo.value.form.errors[field] == [message]
    assert not BulkOperation.objects.exists()
    assert stored_files(storage) == []


def test_an_empty_selection_is_refused(supervisor, storage):
    with pytest.raises(services.OperationRefused, match="No accounts are selected."):
        start(supervisor, [], {"format": "csv", "columns": ["file_number"]})
    assert not BulkOperation.objects.exists()
    assert stored_files(storage) == []


def test_a_template_naming_a_removed_column_is_refused(client, supervisor, company, storage):
    accounts = create_accounts(2, company=company)
    template = ExportTemplate.objects.create(
        name="Old",
        owner=supervisor,
        company=company,
        columns=[{"key": "file_number", "mask": False}, {"key": "cf:gone", "mask": False}],
    )
    problem = (
        "The template “Old” names a column that no longer exists: cf:gone. Nothing is "
        "exported with it: pick the columns again and save the template, or pick another."
    )
    client.force_login(supervisor)
    content = client.get(reverse("bulkops:export-fields"), {"template": template.pk})
    assert problem in content.content.decode()
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(
            supervisor,
            accounts,
            {"format": "csv", "columns": ["file_number"], "template": str(template.pk)},
        )
    assert excinfo.value.form.errors["template"] == [problem]
    assert not BulkOperation.objects.exists()
    assert stored_files(storage) == []


def test_a_custom_field_deleted_after_confirming_fails_the_chunks(supervisor, data, storage):
    operation = start(
        supervisor, data.accounts, {"format": "csv", "columns": ["file_number", "cf:region"]}
    )
    CustomField.objects.filter(key="region").delete()
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    assert (operation.status, operation.failed) == ("failed", 3)
    assert set(operation.items.values_list("reason", flat=True)) == {
        "The column “Region” no longer exists: it was removed after the export was confirmed."
    }
    assert not ExportFile.objects.exists()
    assert stored_files(storage) == []


# --- exactly once ------------------------------------------------------------------------


def test_a_redone_chunk_does_not_duplicate_rows(
    supervisor, company, storage, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(ExportAccounts, "chunk_size", 2)
    monkeypatch.setattr(ExportAccounts, "copy_chunk_size", 2)
    accounts = create_accounts(5, company=company)
    ids = [a.pk for a in accounts]
    operation = start(supervisor, accounts, {"format": "csv", "columns": ["file_number"]})
    assert services.process_next_chunk(operation.pk) == "continue"
    assert stored_files(storage) == [f"exports/{operation.pk}/part-{ids[0]:012d}.csv"]

    # The first chunk is redone, as after a worker died before its commit.
    BulkOperationItem.objects.filter(operation=operation, target_id__in=ids[:2]).update(
        outcome="pending", processed_at=None
    )
    BulkOperation.objects.filter(pk=operation.pk).update(cursor=0, processed=0, succeeded=0)
    # The second chunk wrote its part, then its transaction was rolled back;
    # so was a chunk that started elsewhere (a stray part of no chunk).
    for chunk in (ids[2:4], ids[3:4]):
        with pytest.raises(RuntimeError), transaction.atomic():
            ExportAccounts().apply(Chunk([ChunkItem(i, "") for i in chunk]), operation)
            raise RuntimeError("the worker died before the commit")
    assert not ExportPart.objects.filter(first_account_id__in=ids[2:4]).exists()
    assert len(stored_files(storage)) == 3

    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_operation(operation.pk) == "finished"
    operation.refresh_from_db()
    assert (operation.status, operation.processed, operation.succeeded) == ("succeeded", 5, 5)
    assert csv_rows(operation) == [["File Number"]] + [[a.file_number] for a in accounts]
    # The parts are gone, stray or not; only the file stays.
    assert stored_files(storage) == [f"exports/{operation.pk}/accounts-{operation.pk}.csv"]
    assert not ExportPart.objects.exists()


def test_applying_the_same_chunk_twice_overwrites_its_part(supervisor, company, storage):
    accounts = create_accounts(3, company=company)
    operation = start(supervisor, accounts, {"format": "csv", "columns": ["file_number"]})
    items = Chunk([ChunkItem(a.pk, "") for a in accounts])
    for _ in range(2):
        ExportAccounts().apply(items, operation)
    part = ExportPart.objects.get()
    assert part.rows == 3
    with default_storage.open(part.name, "rb") as handle:
        assert handle.read().decode() == "".join(f"{a.file_number}\r\n" for a in accounts)


def test_failed_chunks_keep_the_parts_until_a_retry_completes_the_file(
    supervisor, company, storage, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(ExportAccounts, "chunk_size", 2)
    monkeypatch.setattr(ExportAccounts, "copy_chunk_size", 2)
    accounts = create_accounts(5, company=company)
    ids = [a.pk for a in accounts]
    real_store = files.store

    def failing_second_chunk(name, handle):
        if name.endswith(f"/part-{ids[2]:012d}.csv"):
            raise OSError("disk full")
        return real_store(name, handle)

    monkeypatch.setattr(files, "store", failing_second_chunk)
    with django_capture_on_commit_callbacks(execute=True):
        operation = run(supervisor, accounts, {"format": "csv", "columns": ["file_number"]})
    assert (operation.status, operation.succeeded, operation.failed) == ("failed", 3, 2)
    assert csv_rows(operation)[1:] == [[accounts[i].file_number] for i in (0, 1, 4)]
    assert ExportPart.objects.count() == 2  # kept for the retry

    monkeypatch.setattr(files, "store", real_store)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.retry_failed(user=supervisor, operation=operation) == 2
        assert services.run_operation(operation.pk) == "finished"
    operation.refresh_from_db()
    assert (operation.status, operation.succeeded, operation.failed) == ("succeeded", 5, 0)
    assert csv_rows(operation)[1:] == [[a.file_number] for a in accounts]
    assert stored_files(storage) == [f"exports/{operation.pk}/accounts-{operation.pk}.csv"]


def test_the_page_of_an_export_with_failures_says_what_the_file_lacks(
    client, supervisor, company, monkeypatch
):
    monkeypatch.setattr(ExportAccounts, "chunk_size", 2)
    monkeypatch.setattr(ExportAccounts, "copy_chunk_size", 2)
    accounts = create_accounts(5, company=company)
    real_store = files.store

    def failing_first_chunk(name, handle):
        if name.endswith(f"/part-{accounts[0].pk:012d}.csv"):
            raise OSError("disk full")
        return real_store(name, handle)

    monkeypatch.setattr(files, "store", failing_first_chunk)
    operation = run(supervisor, accounts, {"format": "csv", "columns": ["file_number"]})
    assert (operation.status, operation.failed) == ("failed", 2)
    client.force_login(supervisor)
    page = client.get(reverse("bulkops:operation-detail", args=[operation.pk])).content.decode()
    assert "The file lacks the 2 accounts that failed; Retry failed adds them." in page


def test_a_chunk_reads_its_rows_in_a_constant_number_of_queries(supervisor, company, data):
    more = create_accounts(4, company=company)
    operation = start(
        supervisor,
        [*data.accounts, *more],
        {"format": "csv", "columns": list(ExportAccounts.catalogue.columns(supervisor))},
    )

    def queries(accounts) -> int:
        fresh = BulkOperation.objects.get(pk=operation.pk)
        with CaptureQueriesContext(connection) as captured:
            ExportAccounts().apply(Chunk([ChunkItem(a.pk, "") for a in accounts]), fresh)
        return len(captured)

    queries(data.accounts)  # warm the caches (content types)
    assert queries(data.accounts[:1]) == queries([*data.accounts, *more])


def test_accounts_no_longer_visible_are_skipped(supervisor, company, other_company, data):
    operation = start(supervisor, data.accounts, {"format": "csv", "columns": ["file_number"]})
    type(data.a2).objects.filter(pk=data.a2.pk).update(company=other_company)
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    assert (operation.succeeded, operation.skipped) == (2, 1)
    assert csv_rows(operation)[1:] == [["F0000001"], ["F0000003"]]


# --- the dialog and saved templates ---------------------------------------------------------


def checked_columns(content: str) -> list[str]:
    return re.findall(r'name="columns" value="([^"]+)" id="[^"]+" checked', content)


def masked_columns(content: str) -> list[str]:
    return re.findall(r'name="mask" value="([^"]+)"[^>]* checked', content)


def test_the_dialog_offers_every_column_with_the_grid_columns_ticked(client, supervisor, data):
    client.force_login(supervisor)
    session = client.session
    session[ACCOUNTS.session_key] = Selection(
        "accounts", ids=frozenset(a.pk for a in data.accounts)
    ).to_dict()
    session.save()
    response = client.get(reverse("bulkops:action-dialog", args=["export"]), headers=HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert "This will apply to <strong>3</strong> accounts." in content
    assert 'aria-label="Export columns"' in content
    assert checked_columns(content) == DEFAULT_COLUMNS
    assert masked_columns(content) == ["account_number", "debtor", "email", "phone"]
    labels = re.findall(r'<label for="export-col-\d+">([^<]+)</label>', content)
    assert labels[:4] == ["File Number", "Client", "Portfolio", "Account"]
    assert {"Email", "Phone", "Postal Code", "Claims Balance", "Region", "Score"} <= set(labels)
    assert "Legacy" not in labels
    assert ">Export</button>" in content


def test_save_as_template_then_pick_it(client, supervisor, company, data):
    client.force_login(supervisor)
    fields = {
        "format": "xlsx",
        "columns": ["email", "file_number", "current_balance"],
        "mask": ["email", "debtor"],
        "template_name": "Monthly",
        "template_shared": "on",
    }
    response = client.post(reverse("bulkops:export-template-save"), fields, headers=HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert "Template “Monthly” saved." in content
    template = ExportTemplate.objects.get()
    assert (template.owner, template.company, template.shared, template.format) == (
        supervisor,
        company,
        True,
        "xlsx",
    )
    assert template.columns == [
        {"key": "email", "mask": True},
        {"key": "file_number", "mask": False},
        {"key": "current_balance", "mask": False},
    ]
    assert re.search(rf'<option value="{template.pk}" selected>Monthly</option>', content)

    # Saved again under the same name: the template is updated, not doubled.
    fields.update(columns=["file_number"], mask=[], template_shared="")
    response = client.post(reverse("bulkops:export-template-save"), fields, headers=HTMX)
    assert "Template “Monthly” updated." in response.content.decode()
    template.refresh_from_db()
    assert (template.columns, template.shared) == ([{"key": "file_number", "mask": False}], False)

    template.columns = [
        {"key": "phone", "mask": False},
        {"key": "file_number", "mask": False},
        {"key": "debtor", "mask": True},
    ]
    template.save()
    content = client.get(reverse("bulkops:export-fields"), {"template": template.pk})
    content = content.content.decode()
    assert checked_columns(content) == ["phone", "file_number", "debtor"]
    assert masked_columns(content) == ["debtor"]
    assert re.search(r'<option value="xlsx" selected>', content)


def test_saving_a_template_needs_a_name_and_columns(client, supervisor):
    client.force_login(supervisor)
    url = reverse("bulkops:export-template-save")
    response = client.post(url, {"format": "csv", "columns": ["file_number"]}, headers=HTMX)
    assert response.status_code == 422
    assert "Name the template to save it." in response.content.decode()
    response = client.post(url, {"format": "csv", "template_name": "Empty"}, headers=HTMX)
    assert response.status_code == 422
    assert "Choose at least one column to export." in response.content.decode()
    assert not ExportTemplate.objects.exists()


def test_who_sees_which_templates(client, supervisor, company, other_company):
    colleague = UserFactory(company=company, role=SUPERVISOR)
    outsider = UserFactory(company=other_company, role=SUPERVISOR)
    columns = [{"key": "file_number", "mask": False}]
    shared = ExportTemplate.objects.create(
        name="Shared", owner=supervisor, company=company, shared=True, columns=columns
    )
    private = ExportTemplate.objects.create(
        name="Private", owner=supervisor, company=company, columns=columns
    )
    assert list(templates.templates_visible_to(supervisor)) == [private, shared]
    assert list(templates.templates_visible_to(colleague)) == [shared]
    assert list(templates.templates_visible_to(outsider)) == []

    client.force_login(colleague)
    content = client.get(reverse("bulkops:export-fields"), {"template": private.pk})
    assert "That template no longer exists or is not shared with you." in content.content.decode()
    page = client.get(reverse("bulkops:export-templates")).content.decode()
    assert "Shared" in page and "Private" not in page
    # Only the owner shares, unshares or deletes.
    for name in ("export-template-share", "export-template-delete"):
        assert client.post(reverse(f"bulkops:{name}", args=[shared.pk])).status_code == 403
        assert client.post(reverse(f"bulkops:{name}", args=[private.pk])).status_code == 404
    client.force_login(supervisor)
    client.post(reverse("bulkops:export-template-share", args=[shared.pk]))
    shared.refresh_from_db()
    assert not shared.shared
    client.post(reverse("bulkops:export-template-delete", args=[private.pk]))
    assert list(ExportTemplate.objects.all()) == [shared]


def test_a_collector_cannot_export_or_use_templates(client, collector):
    client.force_login(collector)
    assert client.get(reverse("bulkops:action-dialog", args=["export"])).status_code == 403
    assert client.get(reverse("bulkops:export-fields")).status_code == 403
    assert client.get(reverse("bulkops:export-templates")).status_code == 403


# --- downloads -----------------------------------------------------------------------------


@pytest.fixture
def exported(supervisor, data):
    return run(supervisor, data.accounts, {"format": "csv", "columns": ["file_number"]})


def download(client, user, operation):
    client.force_login(user)
    response = client.get(reverse("bulkops:export-download", args=[operation.pk]))
    # Consuming the streamed content closes the response (and the file).
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def downloads(operation):
    return AuditEvent.objects.filter(action="export.downloaded", bulk_operation=operation)


def test_the_creator_and_an_admin_download_the_file(client, supervisor, admin_user, exported):
    for user in (supervisor, admin_user):
        response, body = download(client, user, exported)
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == (
            f'attachment; filename="accounts-export-{exported.pk}.csv"'
        )
        assert body == file_bytes(exported)
    events = downloads(exported).order_by("pk")
    assert [(e.actor, e.object_id) for e in events] == [
        (supervisor, exported.pk),
        (admin_user, exported.pk),
    ]
    assert events[0].changes == {"file": [None, exported.export_file.name]}


def test_no_one_else_downloads_the_file(client, company, other_company, collector, exported):
    colleague = UserFactory(company=company, role=SUPERVISOR)
    for user in (colleague, collector):
        response, body = download(client, user, exported)
        assert response.status_code == 403
        assert (
            "Only the person who ran this export and Admins may download its file." in body.decode()
        )
    outsider = UserFactory(company=other_company, role=ADMIN)
    assert download(client, outsider, exported)[0].status_code == 404
    assert not downloads(exported).exists()


def test_a_creator_who_may_no_longer_export_cannot_download(client, company, data):
    exporter = user_with(company, *EXPORTER)
    operation = run(exporter, data.accounts, {"format": "csv", "columns": ["file_number"]})
    assert download(client, exporter, operation)[0].status_code == 200
    exporter.groups.get().permissions.remove(Permission.objects.get(codename="export_accounts"))
    assert download(client, exporter, operation)[0].status_code == 403
    assert downloads(operation).count() == 1


def test_the_link_expires(client, supervisor, admin_user, exported, settings):
    export_file = exported.export_file
    ttl = export_file.expires_at - export_file.created_at
    assert ttl == dt.timedelta(hours=settings.EXPORT_LINK_TTL_HOURS) == dt.timedelta(hours=24)
    ExportFile.objects.filter(pk=export_file.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    for user in (supervisor, admin_user):
        response, body = download(client, user, exported)
        assert response.status_code == 410
        assert "The download link expired on" in body.decode()
    assert not downloads(exported).exists()
    page = client.get(reverse("bulkops:operation-detail", args=[exported.pk])).content.decode()
    assert "The download link expired on" in page
    assert reverse("bulkops:export-download", args=[exported.pk]) not in page


def test_the_ttl_comes_from_the_settings(supervisor, data, settings):
    settings.EXPORT_LINK_TTL_HOURS = 2
    operation = run(supervisor, data.accounts, {"format": "csv", "columns": ["file_number"]})
    export_file = operation.export_file
    assert export_file.expires_at - export_file.created_at == dt.timedelta(hours=2)


def test_the_operation_page_links_the_file_for_those_who_may_download(
    client, supervisor, company, exported
):
    url = reverse("bulkops:export-download", args=[exported.pk])
    client.force_login(supervisor)
    page = client.get(reverse("bulkops:operation-detail", args=[exported.pk])).content.decode()
    assert f'href="{url}">Download CSV</a>' in page
    assert "3 rows" in page
    assert "Export finished: succeeded. 3 exported, 0 skipped, 0 failed." in " ".join(page.split())
    assert "Export 1 column to CSV" in page
    client.force_login(UserFactory(company=company, role=SUPERVISOR))
    progress = client.get(reverse("bulkops:operation-progress", args=[exported.pk]))
    content = progress.content.decode()
    assert url not in content
    assert "Only the person who ran this export and Admins may download its file." in content


def test_a_missing_file_is_gone(client, supervisor, exported):
    default_storage.delete(exported.export_file.name)
    response, body = download(client, supervisor, exported)
    assert response.status_code == 410
    assert "The file is no longer available." in body.decode()
    assert not downloads(exported).exists()


def test_a_stray_file_in_storage_is_never_served(client, supervisor, company, storage):
    """Only the recorded file of an operation is served, never another path."""
    accounts = create_accounts(1, company=company)
    operation = run(supervisor, accounts, {"format": "csv", "columns": ["file_number"]})
    default_storage.save(f"exports/{operation.pk}/other.csv", ContentFile(b"secret"))
    response, body = download(client, supervisor, operation)
    assert response.status_code == 200 and b"secret" not in body


def test_headers_and_user_typed_numbers_are_neutralised(supervisor, company):
    """A custom field's name is a header an admin typed; a number field's
    value is text someone typed: only plain numbers pass unescaped."""
    field = CustomField.objects.create(name="=cmd|'/C calc'!A0", key="evil", field_type="number")
    accounts = create_accounts(4, company=company)
    for account, value in zip(accounts, ["-7.25", "+5", "1e5", "42"], strict=True):
        CustomFieldValue.objects.create(account=account, field=field, value=value)
    spec = {"columns": ["file_number", "cf:evil"]}
    csv_operation = run(supervisor, accounts, {**spec, "format": "csv"})
    assert [row[1] for row in csv_rows(csv_operation)] == [
        "'=cmd|'/C calc'!A0", "-7.25", "'+5", "1e5", "42",
    ]  # fmt: skip
    xlsx_operation = run(supervisor, accounts, {**spec, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(file_bytes(xlsx_operation)))["Accounts"]
    assert [c.value for c in sheet["B"]] == ["=cmd|'/C calc'!A0", -7.25, "+5", "1e5", 42]
    assert [c.data_type for c in sheet["B"]] == ["s", "n", "s", "s", "n"]


def test_an_export_neither_blocks_nor_waits_for_changes_to_the_same_accounts(supervisor, data):
    """Export only reads: a running export and a running status change over the
    same accounts may overlap; two changing operations still may not."""
    from accounts.models import AccountStatus

    export = start(supervisor, data.accounts, {"format": "csv", "columns": ["file_number"]})
    new_status = AccountStatus.objects.create(name="Reviewed", category="active")
    ids = frozenset(a.pk for a in data.accounts)

    def change(key):
        return services.start_operation(
            user=supervisor,
            action_key="change_status",
            selection=Selection("accounts", ids=ids),
            confirmed_count=len(ids),
            data={"status": str(new_status.pk)},
            idempotency_key=key,
        )

    first_change = change(uuid.uuid4().hex)
    assert export.is_active and first_change.is_active
    with pytest.raises(services.OperationRefused, match=f"#{first_change.pk}"):
        change(uuid.uuid4().hex)
    second_export = start(supervisor, data.accounts, {"format": "csv", "columns": ["file_number"]})
    assert second_export.is_active


def test_a_cancelled_export_leaves_no_part_files(
    supervisor, company, storage, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(ExportAccounts, "chunk_size", 2)
    monkeypatch.setattr(ExportAccounts, "copy_chunk_size", 2)
    accounts = create_accounts(5, company=company)
    operation = start(supervisor, accounts, {"format": "csv", "columns": ["file_number"]})
    with django_capture_on_commit_callbacks(execute=True):
        assert services.process_next_chunk(operation.pk) == "continue"
    assert ExportPart.objects.filter(operation=operation).count() == 1
    assert len(stored_files(storage)) == 1
    services.request_cancel(user=supervisor, operation=operation)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_operation(operation.pk) == "cancelled"
    operation.refresh_from_db()
    assert (operation.status, operation.succeeded, operation.skipped) == ("cancelled", 2, 3)
    assert not ExportPart.objects.filter(operation=operation).exists()
    assert not ExportFile.objects.filter(operation=operation).exists()
    assert stored_files(storage) == []


def test_expired_export_files_are_purged_from_storage_and_the_row_says_when(
    supervisor, company, storage, django_capture_on_commit_callbacks
):
    accounts = create_accounts(2, company=company)
    with django_capture_on_commit_callbacks(execute=True):
        old = run(supervisor, accounts, {"format": "csv", "columns": ["file_number"]})
        fresh = run(supervisor, accounts, {"format": "csv", "columns": ["file_number"]})
    ExportFile.objects.filter(operation=old).update(expires_at=timezone.now())
    assert len(stored_files(storage)) == 2

    assert files.purge_expired_exports() == 1
    assert stored_files(storage) == [fresh.export_file.name]
    purged = ExportFile.objects.get(operation=old)
    assert purged.purged_at is not None
    assert files.purge_expired_exports() == 0  # done once, not every hour
    assert download_state(supervisor, old).status == "expired"
