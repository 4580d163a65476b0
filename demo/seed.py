"""``load``, ``wipe`` and ``is_seeded``: what ``manage.py seed_demo`` (and the
bench) call."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from accounts import models as m
from demo import loader
from demo.reference import ReferenceData, create_reference_data
from demo.rows import RowGenerator, check_columns


def load(
    n_accounts: int,
    *,
    seed: int = 42,
    anchor: dt.datetime | None = None,
    progress: Callable[[str], None] = lambda msg: None,
) -> ReferenceData:
    """Create reference data and ``n_accounts`` accounts with everything under
    them, in one transaction. The rows are a function of ``seed`` and
    ``anchor`` (the hour dates are counted back from; default: this hour)."""
    check_columns()
    anchor = (anchor or timezone.now()).replace(minute=0, second=0, microsecond=0)
    started = time.monotonic()
    with transaction.atomic():
        ref = create_reference_data()
        generator = RowGenerator(ref, seed=seed, anchor=anchor)
        loader.write_chunks(generator.chunks(n_accounts), progress=progress, started=started)
    loader.analyze()
    return ref


DEMO_TABLES_IN_DELETE_ORDER = [
    "bulkops.AuditEvent",
    "bulkops.SelectionFileRow",
    "bulkops.SelectionFile",
    "common.TablePreference",
    "communications.MessageEvent",
    "communications.Message",
    "communications.SendWindow",
    "communications.MessageTemplateVersion",
    "communications.MessageTemplate",
    "bulkops.ExportPart",
    "bulkops.ExportFile",
    "bulkops.ExportTemplate",
    "accounts.SavedList",
    "billing.FeeVerificationRow",
    "billing.FeeVerification",
    "billing.PromiseToPay",
    "billing.WriteOffFileRow",
    "billing.WriteOffFile",
    "billing.SubscriptionFreeze",
    "billing.AccountFreeze",
    "billing.LedgerEntry",
    "billing.Payment",
    "billing.Claim",
    "billing.Subscription",
    "billing.PaymentMethod",
    "bulkops.BulkOperationChunk",
    "bulkops.BulkOperationItem",
    "bulkops.BulkOperation",
    "accounts.Note",
    "accounts.Task",
    "accounts.Interaction",
    "accounts.Alert",
    "accounts.CustomFieldValue",
    "accounts.AccountFlag",
    "accounts.AccountAccess",
    "accounts.AccountRoleAssignment",
    "accounts.Account",
    "accounts.DebtorEmail",
    "accounts.DebtorPhone",
    "accounts.Debtor",
    "accounts.AccountPageLayout",
    "accounts.User",
    "accounts.Office",
    "accounts.Portfolio",
    "accounts.Client",
    "accounts.Creditor",
    "accounts.Agency",
    "accounts.AccountStatus",
    "accounts.Flag",
    "accounts.CustomField",
    "accounts.FileType",
    "accounts.NoteType",
    "billing.BillingPolicy",
    "billing.CancellationReason",
    "billing.ServiceType",
    "accounts.WorkQueue",
    "accounts.WorkGroup",
    "accounts.InteractionOutcome",
    "accounts.DelinquencyReason",
    "accounts.Company",  # after its configuration, which refers to it
]


def wipe() -> None:
    """Delete ALL domain data, users included (a developer's reset)."""
    models_in_order = [apps.get_model(label) for label in DEMO_TABLES_IN_DELETE_ORDER]
    user_links = [
        m.User.groups.through,
        m.User.user_permissions.through,
        m.SavedList.shared_with_users.through,
        m.SavedList.shared_with_groups.through,
        m.WorkQueue.members.through,
        m.WorkGroup.members.through,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = ", ".join(mdl._meta.db_table for mdl in models_in_order)
            cursor.execute(f"TRUNCATE {tables} CASCADE")
        else:
            cursor.execute("DELETE FROM django_admin_log")
            for mdl in user_links + models_in_order:
                cursor.execute(f"DELETE FROM {mdl._meta.db_table}")


def is_seeded() -> bool:
    return m.Company.objects.exists() or m.Account.objects.exists()
