"""Select from file: a CSV naming accounts by file number becomes a
selection of exactly the accounts it names that the uploader may see,
through the grid's own filter (file=<id>), usable only by its owner and
until it expires; bad files are refused with a sentence and leave nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from accounts.filters import AccountFilter
from accounts.models import Account, AccountStatus
from accounts.selectable import ACCOUNTS
from bulkops import services
from bulkops.models import AuditEvent, SelectionFile, SelectionFileRow
from bulkops.selection import Selection
from bulkops.services.selection_files import (
    SelectionFileError,
    purge_expired_selection_files,
    read_selection_file,
)
from tests.factories import AccountStatusFactory, create_accounts

pytestmark = pytest.mark.django_db


def csv_file(text: str | bytes, name="numbers.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


@pytest.fixture
def ours(company):
    return create_accounts(4, company=company)


@pytest.fixture
def theirs(other_company):
    return create_accounts(1, company=other_company)


def rows(selection_file):
    return dict(
        SelectionFileRow.objects.filter(file=selection_file).values_list("target_id", "line")
    )


def test_a_headed_column_names_the_accounts_and_the_rest_is_reported(supervisor, ours, theirs):
    a, b, c, _ = ours
    text = (
        "Name;File Number\n"
        f"x;{a.file_number.lower()}\n"  # any case
        f"y; {b.file_number} \n"
        f"z;{a.file_number}\n"  # twice: one row, its first line
        "w;F999999\n"
        f"v;{theirs[0].file_number}\n"  # another company's: not found
        ";\n"
        f"u;{c.file_number}\n"
    )
    selection_file = read_selection_file(
        user=supervisor, selectable=ACCOUNTS, upload=csv_file(text)
    )
    assert rows(selection_file) == {a.pk: 2, b.pk: 3, c.pk: 8}
    assert (selection_file.lines, selection_file.found) == (6, 3)
    assert selection_file.not_found == [[5, "F999999"], [6, theirs[0].file_number]]
    assert selection_file.not_found_count == 2
    [event] = AuditEvent.objects.filter(action="selection_file.uploaded")
    assert event.changes == {
        "name": [None, "numbers.csv"],
        "found": [None, 3],
        "not_found": [None, 2],
    }


def test_without_the_heading_the_first_column_from_the_first_line(supervisor, ours):
    text = "\ufeff" + "\n".join(f"{a.file_number},note" for a in ours[:2])  # Excel's BOM
    selection_file = read_selection_file(
        user=supervisor, selectable=ACCOUNTS, upload=csv_file(text)
    )
    assert rows(selection_file) == {ours[0].pk: 1, ours[1].pk: 2}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00F\x001", "is not a UTF-8 text file"),
        (b"F1\x00\x00", "is not a text file"),
        (b"", "has no File Number in it"),
        (b"File Number\n\n \n", "has no File Number in it"),
        (b"F" + b"9" * 200, "too long"),
        (b"F999998\nF999999\n", "None of the 2 values"),
        (b'"F1\n', "could not be read as CSV"),
    ],
)
def test_bad_files_are_refused_and_leave_nothing(supervisor, ours, content, message):
    with pytest.raises(SelectionFileError, match=message):
        read_selection_file(user=supervisor, selectable=ACCOUNTS, upload=csv_file(content))
    assert not SelectionFile.objects.exists()
    assert not SelectionFileRow.objects.exists()


def test_too_big_or_too_long_a_file_is_refused(supervisor, ours, monkeypatch):
    from bulkops.services import selection_files

    monkeypatch.setattr(selection_files, "MAX_LINES", 2)
    text = "\n".join(a.file_number for a in ours)
    with pytest.raises(SelectionFileError, match="more than 2 values"):
        read_selection_file(user=supervisor, selectable=ACCOUNTS, upload=csv_file(text))
    monkeypatch.setattr(selection_files, "MAX_BYTES", 5)
    with pytest.raises(SelectionFileError, match="larger than"):
        read_selection_file(user=supervisor, selectable=ACCOUNTS, upload=csv_file(text))


def file_filter(user, selection_file_id, **more):
    query = QueryDict(mutable=True)
    query["file"] = str(selection_file_id)
    for key, value in more.items():
        query[key] = str(value)
    return AccountFilter.for_user(user, query)


def test_the_filter_is_the_files_accounts_for_its_owner_only(supervisor, collector, ours):
    text = "\n".join(a.file_number for a in ours[:3])
    selection_file = read_selection_file(
        user=supervisor, selectable=ACCOUNTS, upload=csv_file(text)
    )
    assert set(file_filter(supervisor, selection_file.pk).qs) == set(ours[:3])
    # Combined with another filter, both hold.
    other = AccountStatusFactory(name="Dispute")
    Account.objects.filter(pk=ours[0].pk).update(status=other)
    assert list(file_filter(supervisor, selection_file.pk, status=other.pk).qs) == [ours[0]]
    # Fail closed: a colleague, a made-up id, an expired file match nothing.
    assert not file_filter(collector, selection_file.pk).qs.exists()
    assert not file_filter(supervisor, selection_file.pk + 1).qs.exists()
    SelectionFile.objects.update(uploaded_at=timezone.now() - dt.timedelta(days=8))
    assert not file_filter(supervisor, selection_file.pk).qs.exists()


def test_an_operation_over_a_files_selection_changes_exactly_its_accounts(supervisor, ours):
    text = "File Number\n" + "\n".join(a.file_number for a in ours[1:])
    selection_file = read_selection_file(
        user=supervisor, selectable=ACCOUNTS, upload=csv_file(text)
    )
    query = QueryDict(f"file={selection_file.pk}")
    selection = Selection.for_filters("accounts", query).select_all()
    target = AccountStatus.objects.create(name="Review", category="active", sort_order=9)
    operation = services.start_operation(
        user=supervisor,
        action_key="change_status",
        selection=selection,
        confirmed_count=3,
        data={"status": str(target.pk)},
        idempotency_key="from-file",
    )
    services.run_operation(operation.pk)
    changed = set(Account.objects.filter(status=target).values_list("pk", flat=True))
    assert changed == {a.pk for a in ours[1:]}


def test_upload_selects_every_account_of_the_file(client, supervisor, ours):
    client.force_login(supervisor)
    text = "\n".join([ours[0].file_number, ours[2].file_number, "F424242"])
    response = client.post(
        reverse("bulkops:selection-file", args=["accounts"]), {"file": csv_file(text)}, follow=True
    )
    selection_file = SelectionFile.objects.get()
    assert response.redirect_chain == [(f"/accounts/?file={selection_file.pk}", 302)]
    content = response.content.decode()
    assert "“numbers.csv”: 3 File Numbers read, 2 accounts found and selected." in content
    assert "Not found or not yours (1): line 3 “F424242”." in content
    assert 'data-testid="selection-file">From file “numbers.csv”: 2 accounts' in content
    assert "<strong>2</strong> selected of 2" in content
    assert f'<input type="hidden" name="file" value="{selection_file.pk}"' in content


def test_upload_refuses_a_bad_file_and_missing_file_with_a_message(client, supervisor, ours):
    client.force_login(supervisor)
    url = reverse("bulkops:selection-file", args=["accounts"])
    response = client.post(url, {"file": csv_file(b"F999999\n")}, follow=True)
    assert "None of the 1 values in “numbers.csv”" in response.content.decode()
    response = client.post(url, {}, follow=True)
    assert "Choose a CSV file of File Numbers to upload." in response.content.decode()
    assert not SelectionFile.objects.exists()


def test_upload_needs_login_permission_post_and_a_known_list(client, supervisor, ours):
    url = reverse("bulkops:selection-file", args=["accounts"])
    assert client.post(url, {"file": csv_file(ours[0].file_number)}).status_code == 302  # login
    client.force_login(supervisor)
    assert client.get(url).status_code == 405
    bogus = reverse("bulkops:selection-file", args=["nothing"])
    assert client.post(bogus, {"file": csv_file(ours[0].file_number)}).status_code == 404
    supervisor.groups.clear()
    assert client.post(url, {"file": csv_file(ours[0].file_number)}).status_code == 403
    assert not SelectionFile.objects.exists()


def test_someone_elses_file_on_the_grid_shows_nothing_and_says_why(
    client, supervisor, collector, ours
):
    selection_file = read_selection_file(
        user=supervisor, selectable=ACCOUNTS, upload=csv_file(ours[0].file_number)
    )
    client.force_login(collector)
    content = client.get(f"/accounts/?file={selection_file.pk}").content.decode()
    assert "That file of file numbers is not yours or has expired" in content
    assert "selected of 0" in content


def test_expired_files_are_purged(supervisor, ours):
    keep = read_selection_file(
        user=supervisor, selectable=ACCOUNTS, upload=csv_file(ours[0].file_number)
    )
    old = read_selection_file(
        user=supervisor, selectable=ACCOUNTS, upload=csv_file(ours[1].file_number)
    )
    SelectionFile.objects.filter(pk=old.pk).update(
        uploaded_at=timezone.now() - dt.timedelta(days=8)
    )
    assert purge_expired_selection_files() == 1
    assert list(SelectionFile.objects.all()) == [keep]
    assert list(SelectionFileRow.objects.values_list("file", flat=True)) == [keep.pk]
    assert purge_expired_selection_files() == 0
