"""The Files tab in Chromium, with a real Celery worker and a real clamd: a
collector uploads a clean PDF and the EICAR test file at once (a progress
bar each); the worker's scan releases the PDF to the account's files and
keeps EICAR in the quarantine area. The tab passes axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import AccountFile
from accounts.roles import COLLECTOR
from tests.conftest import EICAR
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_grid_browser import log_in
from tests.factories import AccountFactory, CompanyFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def test_a_clean_file_is_released_and_eicar_is_kept(
    live_server, page, celery_workers, clamd, roles, tmp_path
):
    celery_workers.env["CLAMD_URL"] = clamd["url"]
    celery_workers.start()
    company = CompanyFactory(name="Acme Recovery")
    collector = UserFactory(username="cole", company=company, role=COLLECTOR)
    account = AccountFactory(company=company)
    (tmp_path / "statement.pdf").write_bytes(PDF)
    (tmp_path / "eicar.txt").write_bytes(EICAR)

    log_in(page, live_server.url, collector)
    page.goto(f"{live_server.url}/accounts/{account.pk}/?tab=files")
    expect(page.get_by_test_id("files-tab")).to_be_visible()
    assert_accessible(page, "the Files tab")
    page.locator("[data-file-input]").set_input_files(
        [str(tmp_path / "statement.pdf"), str(tmp_path / "eicar.txt")]
    )
    progress = page.locator("[data-upload-progress] progress")
    expect(progress).to_have_count(2)
    expect(page.locator("[data-upload-progress] .text-success")).to_have_count(2)

    # The worker scans both; the page shows where each ended up.
    released = page.get_by_test_id("released-files")
    quarantine = page.get_by_test_id("quarantine")
    for _ in range(60):
        if not AccountFile.objects.filter(state="waiting").exists():
            break
        page.wait_for_timeout(500)
    page.reload()
    expect(released.get_by_role("link", name="statement.pdf")).to_be_visible()
    expect(quarantine.locator("tr[data-file='eicar.txt']")).to_contain_text("Infected")
    expect(released).not_to_contain_text("eicar.txt")
    assert dict(AccountFile.objects.values_list("name", "state")) == {
        "statement.pdf": "clean",
        "eicar.txt": "infected",
    }
    assert_accessible(page, "the Files tab after the scans")
