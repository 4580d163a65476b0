"""``make bench``'s Add Fees, % of Balance (5 %, as of yesterday), on every
account:

- **the verification** ("Proceed to Verification"): the action's own
  ``preview_context`` on the grid's select-all, every account's fee computed
  from the ledger and stored (target: under 30 s);
- **the fee operation**, end to end (the confirmation's snapshot of the
  verified rows, then a worker process running every chunk: the new
  invoices, the fee entries, the balances, the audit), against hand-written
  set-based SQL making the same rows in the same run (target ≥ 0.5×).

Everything the bench adds is deleted and the balances put back."""

from __future__ import annotations

import datetime as dt
import time

from bench.harness import WorkerProcess, operator, vacuum

TABLES = (
    "accounts_account", "billing_claim", "billing_ledgerentry", "bulkops_auditevent",
    "bulkops_bulkoperationitem", "billing_feeverificationrow",
)  # fmt: skip
PERCENT = "5"

# The same fees by hand: a new invoice per account with a fee, its fee
# entry, the account's balance and the invoice's, and an audit row per
# account, foreign keys checked as a commit would.
BASELINE = """
WITH fee AS (
    SELECT r.account_id, r.amount FROM billing_feeverificationrow r
    WHERE r.verification_id = %(verification)s AND r.reason = ''
),
claims AS (
    INSERT INTO billing_claim
        (account_id, service_type_id, reference, original_amount, balance, due_date, status,
         created_at)
    SELECT account_id, %(service_type)s, 'FEE-BASELINE', amount, amount, current_date, 'open', now()
    FROM fee
    RETURNING id, account_id, original_amount
),
entries AS (
    INSERT INTO billing_ledgerentry
        (kind, amount, context, description, posted_at, account_id, claim_id, created_by_id)
    SELECT 'fee', original_amount, 'bulk', 'Add Fees', now(), account_id, id, %(actor)s
    FROM claims
    RETURNING 1
),
audit AS (
    INSERT INTO bulkops_auditevent
        (occurred_at, action, object_type, object_id, changes, actor_id, company_id)
    SELECT now(), 'ledger.fee', 'accounts.account', a.id,
           jsonb_build_object('current_balance', jsonb_build_array(
               a.current_balance::text, (a.current_balance + f.amount)::text)),
           %(actor)s, a.company_id
    FROM fee f JOIN accounts_account a ON a.id = f.account_id
    RETURNING 1
)
UPDATE accounts_account a SET current_balance = a.current_balance + f.amount
FROM fee f WHERE a.id = f.account_id
"""


def _form_data(service_type_id: int) -> dict:
    from django.utils import timezone

    yesterday = timezone.localdate() - dt.timedelta(days=1)
    return {
        "service_type": str(service_type_id), "apply_to": "billing", "mode": "balance",
        "amount": "", "percentage": PERCENT, "as_of": yesterday.isoformat(),
    }  # fmt: skip


def bench_add_fees() -> dict:
    from django.db import connection, transaction
    from django.http import QueryDict

    from accounts.models import Account
    from billing.models import Claim, FeeVerification, FeeVerificationRow, LedgerEntry, ServiceType
    from bulkops.models import AuditEvent, BulkOperation
    from bulkops.registry import get_action
    from bulkops.selection import Selection
    from bulkops.services import start_operation

    if connection.vendor != "postgresql":
        return {"skipped": "PostgreSQL only (the baseline is PostgreSQL's SQL)."}
    user = operator()
    total = Account.objects.count()
    service_type = ServiceType.objects.get(company=None, name="Fee")
    action = get_action("add_fees")
    selection = Selection.for_filters("accounts", QueryDict()).select_all()
    data = _form_data(service_type.pk)
    form = action.get_form(data, user=user, selected_count=total)
    assert form.is_valid(), form.errors
    vacuum(*TABLES)

    started = time.perf_counter()
    context = action.preview_context(form, user=user, selection=selection)
    verification_seconds = time.perf_counter() - started
    verification = context["verification"]

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_fee_balances")
        cursor.execute(
            "CREATE TABLE bench_fee_balances AS SELECT id, current_balance FROM accounts_account"
        )
    vacuum(*TABLES)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            BASELINE,
            {"verification": verification.pk, "service_type": service_type.pk, "actor": user.pk},
        )
        baseline_rows = cursor.rowcount
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        baseline_seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    vacuum(*TABLES)

    worker = WorkerProcess()
    started = time.perf_counter()
    operation = start_operation(
        user=user,
        action_key="add_fees",
        selection=selection,
        confirmed_count=total,
        data={**data, "preview_token": _token(action, total, form)},
        idempotency_key=f"bench-fees-{time.time_ns()}",
    )
    snapshot_seconds = time.perf_counter() - started
    state, peak_mb = worker.run(operation.pk)
    seconds = time.perf_counter() - started
    operation.refresh_from_db()
    fees_posted = LedgerEntry.objects.filter(bulk_operation=operation).count()

    # Put everything back.
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM billing_ledgerentry WHERE bulk_operation_id = %s", [operation.pk]
        )
        cursor.execute(
            "DELETE FROM bulkops_auditevent WHERE bulk_operation_id = %s", [operation.pk]
        )
        cursor.execute(
            "UPDATE accounts_account a SET current_balance = s.current_balance"
            " FROM bench_fee_balances s WHERE s.id = a.id"
            " AND a.current_balance IS DISTINCT FROM s.current_balance"
        )
        cursor.execute("DROP TABLE bench_fee_balances")
    Claim.objects.filter(reference=f"FEE-{operation.pk}").delete()
    BulkOperation.objects.filter(pk=operation.pk).delete()
    FeeVerificationRow.objects.filter(verification__owner=user).delete()
    FeeVerification.objects.filter(owner=user).delete()
    AuditEvent.objects.filter(actor=user, action="ledger.fee", bulk_operation=None).delete()
    vacuum(*TABLES)

    engine_rate = operation.succeeded / seconds if seconds else 0
    baseline_rate = baseline_rows / baseline_seconds if baseline_seconds else 0
    return {
        "accounts": total,
        "fee": f"% of Balance, {PERCENT} %, as of {data['as_of']}",
        "verification_seconds": round(verification_seconds, 1),
        "verification_target_seconds_under": 30,
        "accounts_with_fee": verification.with_fee,
        "fees_total": str(verification.total),
        "final_state": state,
        "charged": operation.succeeded,
        "skipped": operation.skipped,
        "failed": operation.failed,
        "ledger_entries": fees_posted,
        "end_to_end_seconds": round(seconds, 1),
        "snapshot_seconds": round(snapshot_seconds, 1),
        "worker_peak_memory_mb": float(peak_mb),
        "engine_accounts_per_second": round(engine_rate),
        "raw_sql_accounts": baseline_rows,
        "raw_sql_seconds": round(baseline_seconds, 1),
        "raw_sql_accounts_per_second": round(baseline_rate),
        "throughput_vs_raw_sql": round(engine_rate / baseline_rate, 2) if baseline_rate else None,
        "target_ratio": 0.5,
    }


def _token(action, count: int, form) -> str:
    """The preview token the verification page hands to the confirmation."""
    from bulkops.services import preview_token

    return preview_token(action, count=count, parameters=action.all_parameters(form))
