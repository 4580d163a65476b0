"""Add Fees with a REAL Celery worker SIGKILLed in the middle of the fee
operation: once the sweeper hands the operation to a new worker, every
account has exactly one fee, on one new invoice, and the balances
reconcile with the ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Count
from django.http import QueryDict

from accounts.models import Account
from billing.actions.add_fees import AddFees
from billing.models import Claim, LedgerEntry, ServiceType
from billing.selectors import find_balance_discrepancies
from bulkops import services
from bulkops.registry import get_action
from bulkops.selection import Selection
from tests.bulkops.conftest import celery_workers, make_accounts  # noqa: F401  (a fixture)
from tests.bulkops.test_worker import (
    kill_mid_operation,
    supervisor,  # noqa: F401  (a fixture)
    wait_for_other_sessions_to_end,
    wait_until_finished,
)
from tests.factories import AccountStatusFactory

pytestmark = pytest.mark.e2e

ACCOUNTS = 5 * AddFees.chunk_size  # 5 chunks


def confirm_fees(user, count: int):
    """Proceed to Verification, then confirm, as the dialog does."""
    action = get_action("add_fees")
    fee_type, _ = ServiceType.objects.get_or_create(company=None, name="Fee")
    data = {"service_type": str(fee_type.pk), "apply_to": "billing", "mode": "fixed",
            "amount": "5.00", "percentage": "", "as_of": ""}  # fmt: skip
    selection = Selection.for_filters("accounts", QueryDict()).select_all()
    form = action.get_form(data, user=user, selected_count=count)
    assert form.is_valid(), form.errors
    action.preview_context(form, user=user, selection=selection)
    token = services.preview_token(action, count=count, parameters=action.all_parameters(form))
    return services.start_operation(
        user=user, action_key="add_fees", selection=selection, confirmed_count=count,
        data={**data, "preview_token": token}, idempotency_key=f"fees-{count}",
    )  # fmt: skip


def test_a_killed_worker_posts_each_fee_exactly_once(celery_workers, supervisor):  # noqa: F811
    account_ids = make_accounts(
        ACCOUNTS, company=supervisor.company, status=AccountStatusFactory(name="Active"),
        prefix="P",
    )  # fmt: skip
    worker = celery_workers.start()
    operation = confirm_fees(supervisor, ACCOUNTS)
    assert operation.total == ACCOUNTS
    if not kill_mid_operation(operation, worker):
        pytest.skip("the operation finished before the worker could be killed")
    wait_for_other_sessions_to_end()
    operation.refresh_from_db()
    assert 0 < operation.processed < operation.total
    # What committed is whole: a fee and its invoice for each account done.
    assert LedgerEntry.objects.filter(kind="fee").count() == operation.succeeded
    assert Claim.objects.filter(reference=f"FEE-{operation.pk}").count() == operation.succeeded

    second = celery_workers.start()
    assert operation.pk in services.sweep_stale_operations(stale_after_seconds=0)
    operation = wait_until_finished(operation, [second])
    assert (operation.succeeded, operation.skipped, operation.failed) == (ACCOUNTS, 0, 0)
    fees = LedgerEntry.objects.filter(kind="fee", bulk_operation=operation)
    assert fees.count() == ACCOUNTS
    assert not fees.values("account_id").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert set(fees.values_list("account_id", flat=True)) == set(account_ids)
    assert Claim.objects.filter(reference=f"FEE-{operation.pk}").count() == ACCOUNTS
    assert set(Account.objects.values_list("current_balance", flat=True)) == {Decimal("5.00")}
    assert find_balance_discrepancies() == []
