"""Account files against a real clamd: a clean file is released, EICAR is
kept in quarantine with its signature, clamd stopped (or its size limit)
leaves a file in quarantine with the reason; the type is sniffed from the
content; names are made safe; downloads are permission-checked and only of
released files."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts import files
from accounts.models import AccountFile, FilePolicy
from accounts.roles import ADMIN, COLLECTOR
from bulkops.models import AuditEvent
from tests.conftest import EICAR
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200


@pytest.fixture
def account(company):
    return AccountFactory(company=company)


def up(actor, account, name, content):
    return files.upload(actor=actor, account=account, uploaded=SimpleUploadedFile(name, content))


def test_a_clean_file_is_released_after_the_scan(clamd, collector, account):
    held = up(collector, account, "statement.pdf", PDF)
    assert held.state == "waiting" and held.storage_name.startswith(files.QUARANTINE)
    assert held.content_type == "application/pdf"
    assert files.scan(held.pk) == "clean"
    held.refresh_from_db()
    assert held.storage_name.startswith(files.RELEASED) and held.released
    with default_storage.open(held.storage_name) as stored:
        assert stored.read() == PDF
    actions = set(AuditEvent.objects.filter(object_id=account.pk).values_list("action", flat=True))
    assert {"file.uploaded", "file.released"} <= actions


def test_eicar_stays_in_quarantine_with_its_signature(clamd, collector, account):
    held = up(collector, account, "notes.txt", EICAR)
    assert files.scan(held.pk) == "infected"
    held.refresh_from_db()
    assert held.signature.startswith("Eicar-Test-Signature")
    assert held.storage_name.startswith(files.QUARANTINE) and not held.released
    with pytest.raises(PermissionDenied):
        files.open_for_download(actor=collector, held=held)


def test_an_unreachable_scanner_leaves_the_file_waiting(settings, collector, account, tmp_path):
    settings.CLAMD_URL = f"unix://{tmp_path / 'nobody-listens.sock'}"
    held = up(collector, account, "statement.pdf", PDF)
    with pytest.raises(files.ScannerUnavailable):
        files.scan(held.pk)
    held.refresh_from_db()
    assert (held.state, held.reason, held.attempts) == ("waiting", files.WAITING, 0)
    assert files.waiting_files() == [held.pk]


def test_a_file_over_clamd_s_limit_is_not_clean_and_retried_then_left(clamd, collector, account):
    FilePolicy.objects.create(
        company=account.company, allowed_types=["text/plain"], max_bytes=5 * 2**20
    )
    held = up(collector, account, "big.txt", b"a line of text\n" * 100_000)  # 1.5 MB > clamd's 1 MB
    for attempt in range(1, files.MAX_SCAN_ATTEMPTS):
        with pytest.raises(files.ScanFailed):
            files.scan(held.pk)
        held.refresh_from_db()
        assert (held.state, held.attempts) == ("waiting", attempt)
    assert files.scan(held.pk) == "failed"
    held.refresh_from_db()
    assert "size limit" in held.reason and held.storage_name.startswith(files.QUARANTINE)


def test_the_type_comes_from_the_content_not_the_name(collector, account):
    with pytest.raises(ValidationError, match="does not accept"):
        up(collector, account, "invoice.pdf", ELF)
    assert up(collector, account, "data.csv", b"a,b\n1,2\n").content_type == "text/plain"
    assert AccountFile.objects.count() == 1


def test_empty_and_oversized_files_are_refused(collector, account):
    FilePolicy.objects.create(company=account.company, allowed_types=["text/plain"], max_bytes=100)
    with pytest.raises(ValidationError, match="empty"):
        up(collector, account, "empty.txt", b"")
    with pytest.raises(ValidationError, match="at most"):
        up(collector, account, "big.txt", b"x" * 101)
    assert not AccountFile.objects.exists()


@pytest.mark.parametrize(
    "raw, safe",
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("re\x00port\x1b[31m.pdf", "report[31m.pdf"),
        ("   .hidden  ", "hidden"),
        ("", "file"),
        ("a" * 300 + ".pdf", "a" * 146 + ".pdf"),
    ],
)
def test_names_are_made_safe(raw, safe):
    assert files.safe_name(raw) == safe


def test_an_upload_to_another_company_s_account_is_refused(collector, other_company):
    theirs = AccountFactory(company=other_company)
    with pytest.raises(PermissionDenied):
        up(collector, theirs, "statement.pdf", PDF)
    assert not AccountFile.objects.exists()


def test_downloads_are_attachments_of_released_files_only(
    clamd, client, collector, account, other_company
):
    held = up(collector, account, "statement.pdf", PDF)
    url = reverse("accounts:file-download", args=[held.public_id])
    client.force_login(collector)
    assert client.get(url).status_code == 404  # still in quarantine
    files.scan(held.pk)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="statement.pdf"')
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF
    assert AuditEvent.objects.filter(action="file.downloaded").count() == 1
    stranger = UserFactory(company=other_company, role=COLLECTOR)
    client.force_login(stranger)
    assert client.get(url).status_code == 404


def test_the_upload_page_answers_per_file(client, collector, account):
    client.force_login(collector)
    response = client.post(
        reverse("accounts:file-upload", args=[account.pk]),
        {"files": [SimpleUploadedFile("a.pdf", PDF), SimpleUploadedFile("b.pdf", ELF)]},
        headers={"accept": "application/json"},
    )
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False]
    assert "does not accept" in results[1]["message"]


def test_an_admin_deletes_a_quarantined_file(clamd, company, collector, account):
    held = up(collector, account, "notes.txt", EICAR)
    files.scan(held.pk)
    with pytest.raises(PermissionDenied):
        files.delete_file(actor=collector, held=held)
    admin = UserFactory(company=company, role=ADMIN)

    files.delete_file(actor=admin, held=held)
    assert not AccountFile.objects.exists()
    assert AuditEvent.objects.filter(action="file.deleted").exists()


def test_the_files_tab_shows_both_sides(clamd, client, collector, account):
    clean = up(collector, account, "statement.pdf", PDF)
    files.scan(clean.pk)
    up(collector, account, "later.pdf", PDF)
    client.force_login(collector)
    html = client.get(
        reverse("accounts:detail", args=[account.pk]), {"tab": "files"}
    ).content.decode()
    assert "Quarantine area" in html and "Waiting for the virus scanner" in html
    assert reverse("accounts:file-download", args=[clean.public_id]) in html
