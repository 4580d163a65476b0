"""Export files in an S3-compatible bucket, which AWS_STORAGE_BUCKET_NAME
switches on: the settings it produces, then exports written to, downloaded
from and purged from a bucket of moto's S3 server on loopback (a real HTTP
conversation in S3's API: no S3 service is reachable from here; the
``bucket`` fixture is in conftest). A real worker writes to a bucket in
test_worker.py."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from accounts.actions.export import ExportAccounts
from accounts.masking import mask_account_number
from bulkops import services
from bulkops.exports import files
from bulkops.models import AuditEvent, ExportFile, ExportPart
from bulkops.selection import Selection
from bulkops.services import engine
from tests.bulkops.conftest import storages_for
from tests.factories import create_accounts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    monkeypatch.setattr(engine, "enqueue_operation", lambda pk: None)


def start(user, accounts, data):
    ids = [a.pk for a in accounts]
    return services.start_operation(
        user=user,
        action_key="export",
        selection=Selection("accounts", ids=frozenset(ids)),
        confirmed_count=len(ids),
        data=data,
        idempotency_key=uuid.uuid4().hex,
    )


def run(user, accounts, data):
    operation = start(user, accounts, data)
    assert services.run_operation(operation.pk) == "finished"
    operation.refresh_from_db()
    return operation


def download(client, user, operation):
    client.force_login(user)
    response = client.get(reverse("bulkops:export-download", args=[operation.pk]))
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_the_bucket_setting_switches_the_default_storage(tmp_path):
    assert storages_for(tmp_path)["default"] == {
        "BACKEND": "django.core.files.storage.FileSystemStorage"
    }
    default = storages_for(
        tmp_path,
        AWS_STORAGE_BUCKET_NAME="acme-exports",
        AWS_S3_ENDPOINT_URL="https://minio.internal:9000",
    )["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    options = default["OPTIONS"]
    assert options["bucket_name"] == "acme-exports"
    assert options["endpoint_url"] == "https://minio.internal:9000"
    assert options["region_name"] is None  # boto3's own default applies
    # Private, overwritten in place by a redone chunk, never public links.
    assert options["default_acl"] is None and options["querystring_auth"] is True
    assert options["file_overwrite"] is True
    assert "access_key" not in options and "secret_key" not in options


def test_a_csv_export_is_written_to_the_bucket_served_and_purged(
    bucket, client, supervisor, company, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(ExportAccounts, "chunk_size", 2)
    monkeypatch.setattr(ExportAccounts, "copy_chunk_size", 2)
    accounts = create_accounts(5, company=company)
    with django_capture_on_commit_callbacks(execute=True):
        operation = run(
            supervisor,
            accounts,
            {
                "format": "csv",
                "columns": ["file_number", "account_number"],
                "mask": ["account_number"],
            },
        )
    name = f"exports/{operation.pk}/accounts-{operation.pk}.csv"
    assert operation.export_file.name == name
    # Three chunks' parts were assembled, then deleted: only the file is left.
    assert bucket.keys() == [f"collections/{name}"]
    assert not ExportPart.objects.filter(operation=operation).exists()

    content = bucket.read(f"collections/{name}")
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    by_number = sorted(accounts, key=lambda a: a.pk)
    assert rows == [["File Number", "Account"]] + [
        [a.file_number, mask_account_number(a.account_number)] for a in by_number
    ]
    assert operation.export_file.size == len(content) and operation.export_file.rows == 5

    response, body = download(client, supervisor, operation)
    assert response.status_code == 200 and body == content
    assert AuditEvent.objects.filter(action="export.downloaded", bulk_operation=operation).exists()

    ExportFile.objects.filter(operation=operation).update(expires_at=timezone.now())
    assert files.purge_expired_exports() == 1
    assert bucket.keys() == []
    response, _ = download(client, supervisor, operation)
    assert response.status_code == 410


def test_an_xlsx_export_is_read_back_from_the_bucket(bucket, client, supervisor, company):
    accounts = create_accounts(3, company=company)
    operation = run(
        supervisor, accounts, {"format": "xlsx", "columns": ["file_number", "current_balance"]}
    )
    response, body = download(client, supervisor, operation)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["File Number", "Current Balance"]
    assert [row[0] for row in rows[1:]] == [
        a.file_number for a in sorted(accounts, key=lambda a: a.pk)
    ]
    assert default_storage.exists(operation.export_file.name)

    # Deleted from the bucket behind the application's back: gone, not an error.
    bucket.delete(f"collections/{operation.export_file.name}")
    response, body = download(client, supervisor, operation)
    assert response.status_code == 410
    assert "The file is no longer available." in body.decode()


def test_a_cancelled_export_leaves_no_parts_in_the_bucket(
    bucket, supervisor, company, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(ExportAccounts, "chunk_size", 2)
    monkeypatch.setattr(ExportAccounts, "copy_chunk_size", 2)
    accounts = create_accounts(5, company=company)
    operation = start(supervisor, accounts, {"format": "csv", "columns": ["file_number"]})
    with django_capture_on_commit_callbacks(execute=True):
        assert services.process_next_chunk(operation.pk) == "continue"
    assert len(bucket.keys()) == 1  # the first chunk's part
    services.request_cancel(user=supervisor, operation=operation)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_operation(operation.pk) == "cancelled"
    assert bucket.keys() == []
