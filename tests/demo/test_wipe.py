"""seed_demo --force starts again from nothing: wipe deletes every row of
the domain, including what users made after seeding (operations and their
items, saved lists shared with colleagues, export and message templates,
selection files, table preferences), on either database."""

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import Account, SavedList, User
from accounts.selectable import ACCOUNTS
from accounts.services import save_grid_columns
from bulkops import services
from bulkops.selection import Selection
from bulkops.services.selection_files import read_selection_file
from communications import dispatch, limiter
from communications.models import Message
from communications.services import save_template
from demo import seed
from demo.seed import DEMO_TABLES_IN_DELETE_ORDER

pytestmark = pytest.mark.django_db(transaction=True)  # wipe commits; roles re-creates the groups


def test_wipe_after_users_worked_leaves_nothing(roles):
    seed.load(40)
    admin = User.objects.filter(groups__name="Admin", company__isnull=False).first()
    colleague = User.objects.filter(company=admin.company).exclude(pk=admin.pk).first()
    accounts = list(Account.objects.filter(company=admin.company)[:3])
    saved = SavedList.objects.create(owner=admin, company=admin.company, name="Mine")
    saved.shared_with_users.add(colleague)
    save_grid_columns(user=admin, columns=["debtor"])
    save_template(
        user=admin, channel="sms", name="Hi", body="Hi {{debtorFirstName}} {{optOutText}}"
    )
    numbers = "\n".join(a.file_number for a in accounts).encode()
    read_selection_file(
        user=admin, selectable=ACCOUNTS, upload=SimpleUploadedFile("f.csv", numbers)
    )
    operation = services.start_operation(
        user=admin,
        action_key="stage",
        selection=Selection("accounts", ids=frozenset(a.pk for a in accounts)),
        confirmed_count=3,
        data={"stage": "sent"},
        idempotency_key="wipe-test",
    )
    services.run_operation(operation.pk)
    message = Message.objects.create(
        company=admin.company, account=accounts[0], channel="email", to="x@example.net"
    )
    dispatch.move(message, "cancelled")
    office = accounts[0].office or admin.office
    limiter._take_in_database(office.pk, "email", 5, timezone.now())

    seed.wipe()

    left = {
        label: apps.get_model(label).objects.count()
        for label in DEMO_TABLES_IN_DELETE_ORDER
        if apps.get_model(label).objects.exists()
    }
    assert left == {}
    assert not seed.is_seeded()
