"""``make bench``'s Mass Edit on every account with four sections ticked
(Stage, File Type, a text custom field, Mass Add Alert), end to end: the
form and its preview token as the dialog builds them, the confirmation's
snapshot, then a worker process running every chunk. Baseline, in the same
run: the same changes as hand-written set-based SQL (one UPDATE of the
accounts' stage and file type, an upsert of the custom field's values, an
INSERT ... SELECT of the alerts, each with one audit event per changed field
of each account and per alert added, as the engine writes them; foreign
keys checked as a commit would), rolled back. The stages, file types and
custom values are put back from a copy taken first, and the alerts, audit
rows and the operation are deleted (with the file type and custom field
when the bench made them), so the bench can run again on the same data."""

from __future__ import annotations

import time

from bench.harness import WorkerProcess, operator, vacuum

TABLES = (
    "accounts_account", "accounts_alert", "accounts_customfieldvalue", "bulkops_auditevent",
    "bulkops_bulkoperationitem",
)  # fmt: skip

STAGE = "sent"
CUSTOM_VALUE = "Bench Employer"
ALERT = "Bench: call the debtor back before any letter goes out."

# The same changes and audit rows as the engine's chunks, over every account.
# Each audit INSERT reads the values before the UPDATE (every statement of a
# WITH sees one snapshot); the account's fields change in one UPDATE.
RAW_ACCOUNTS_SQL = """
WITH stage_audit AS (
    INSERT INTO bulkops_auditevent
        (occurred_at, actor_id, action, object_type, object_id, changes, bulk_operation_id,
         company_id)
    SELECT now(), %(actor)s, 'account.stage_updated', 'accounts.account', a.id,
           jsonb_build_object('stage', jsonb_build_array(a.stage, %(stage)s::text)), NULL,
           a.company_id
    FROM accounts_account a WHERE a.stage <> %(stage)s
    RETURNING 1
),
file_type_audit AS (
    INSERT INTO bulkops_auditevent
        (occurred_at, actor_id, action, object_type, object_id, changes, bulk_operation_id,
         company_id)
    SELECT now(), %(actor)s, 'account.file_type_changed', 'accounts.account', a.id,
           jsonb_build_object('file_type', jsonb_build_array(a.file_type_id, %(file_type)s::bigint)),
           NULL, a.company_id
    FROM accounts_account a WHERE a.file_type_id IS DISTINCT FROM %(file_type)s
    RETURNING 1
)
UPDATE accounts_account a
SET stage = %(stage)s, file_type_id = %(file_type)s
WHERE a.stage <> %(stage)s OR a.file_type_id IS DISTINCT FROM %(file_type)s
"""
RAW_CUSTOM_SQL = """
WITH custom_audit AS (
    INSERT INTO bulkops_auditevent
        (occurred_at, actor_id, action, object_type, object_id, changes, bulk_operation_id,
         company_id)
    SELECT now(), %(actor)s, 'account.custom_field_set', 'accounts.account', a.id,
           jsonb_build_object(%(key)s::text, jsonb_build_array(coalesce(v.value, ''), %(value)s::text)),
           NULL, a.company_id
    FROM accounts_account a
    LEFT JOIN accounts_customfieldvalue v ON v.account_id = a.id AND v.field_id = %(field)s
    WHERE coalesce(v.value, '') <> %(value)s
    RETURNING 1
)
INSERT INTO accounts_customfieldvalue (account_id, field_id, value)
SELECT a.id, %(field)s, %(value)s FROM accounts_account a
ON CONFLICT (account_id, field_id) DO UPDATE SET value = EXCLUDED.value
WHERE accounts_customfieldvalue.value <> EXCLUDED.value
"""
RAW_ALERTS_SQL = """
WITH alerts AS (
    INSERT INTO accounts_alert (message, is_active, expires_at, created_at, account_id, created_by_id)
    SELECT %(message)s, true, NULL, now(), a.id, %(actor)s FROM accounts_account a
    RETURNING id, account_id
)
INSERT INTO bulkops_auditevent
    (occurred_at, actor_id, action, object_type, object_id, changes, bulk_operation_id,
     company_id)
SELECT now(), %(actor)s, 'alert.added', 'accounts.alert', al.id,
       jsonb_build_object('message', jsonb_build_array(NULL, %(message)s::text),
                          'is_active', jsonb_build_array(NULL, true)),
       NULL, a.company_id
FROM alerts al JOIN accounts_account a ON a.id = al.account_id
"""


def _config():
    """The file type and text custom field the bench sets (made when there
    is none), and whether it made them."""
    from accounts.models import CustomField, FileType

    made = []
    file_type = FileType.objects.filter(company__isnull=True).order_by("pk").first()
    if file_type is None:
        file_type = FileType.objects.create(name="Bench File Type")
        made.append(file_type)
    field = (
        CustomField.objects.filter(company__isnull=True, is_active=True, field_type="text")
        .order_by("pk")
        .first()
    )
    if field is None:
        field = CustomField.objects.create(name="Bench Employer", key="bench_employer")
        made.append(field)
    return file_type, field, made


def form_data(file_type, field) -> dict:
    """The dialog's fields with the four sections ticked."""
    return {
        "change_stage": "on",
        "stage": STAGE,
        "change_file_type": "on",
        "file_type": str(file_type.pk),
        f"change_cf_{field.pk}": "on",
        f"cf_{field.pk}": CUSTOM_VALUE,
        "add_alert": "on",
        "alert_message": ALERT,
    }


def _save_state(cursor, field_id: int) -> None:
    cursor.execute("DROP TABLE IF EXISTS bench_mass_edit_accounts, bench_mass_edit_values")
    cursor.execute(
        "CREATE TABLE bench_mass_edit_accounts AS SELECT id, stage, file_type_id"
        " FROM accounts_account"
    )
    cursor.execute(
        "CREATE TABLE bench_mass_edit_values AS SELECT id, value"
        " FROM accounts_customfieldvalue WHERE field_id = %s",
        [field_id],
    )


def _restore(cursor, operation_id: int | None, field_id: int) -> int:
    """Put everything back; returns the rows still differing from the copy
    or left by the bench (none is expected)."""
    if operation_id is not None:
        cursor.execute(
            "DELETE FROM accounts_alert WHERE id IN (SELECT object_id FROM bulkops_auditevent"
            " WHERE bulk_operation_id = %s AND object_type = 'accounts.alert')",
            [operation_id],
        )
        cursor.execute(
            "DELETE FROM bulkops_auditevent WHERE bulk_operation_id = %s", [operation_id]
        )
    cursor.execute(
        "DELETE FROM accounts_customfieldvalue v WHERE v.field_id = %s"
        " AND NOT EXISTS (SELECT FROM bench_mass_edit_values s WHERE s.id = v.id)",
        [field_id],
    )
    cursor.execute(
        "UPDATE accounts_customfieldvalue v SET value = s.value"
        " FROM bench_mass_edit_values s WHERE s.id = v.id AND v.value <> s.value"
    )
    cursor.execute(
        "UPDATE accounts_account a SET stage = s.stage, file_type_id = s.file_type_id"
        " FROM bench_mass_edit_accounts s WHERE s.id = a.id"
        " AND (a.stage, a.file_type_id) IS DISTINCT FROM (s.stage, s.file_type_id)"
    )
    left_over = _differing_from_saved(cursor, field_id)
    cursor.execute("DROP TABLE bench_mass_edit_accounts, bench_mass_edit_values")
    return left_over


def _differing_from_saved(cursor, field_id: int) -> int:
    """Rows the restore missed: accounts, custom values, the bench's alerts."""
    cursor.execute(
        "SELECT (SELECT count(*) FROM accounts_alert WHERE message = %s)"
        "     + (SELECT count(*) FROM accounts_account a JOIN bench_mass_edit_accounts s"
        "        ON s.id = a.id"
        "        WHERE (a.stage, a.file_type_id) IS DISTINCT FROM (s.stage, s.file_type_id))"
        "     + (SELECT count(*) FROM accounts_customfieldvalue v"
        "        LEFT JOIN bench_mass_edit_values s ON s.id = v.id"
        "        WHERE v.field_id = %s AND v.value IS DISTINCT FROM s.value)",
        [ALERT, field_id],
    )
    return cursor.fetchone()[0]


def _baseline(actor_id: int, file_type_id: int, field) -> tuple[dict, float]:
    """(rows written by kind, seconds) of the hand-written SQL, rolled back."""
    from django.db import connection, transaction

    from accounts.mass_edit import custom_key

    params = {
        "actor": actor_id, "stage": STAGE, "file_type": file_type_id, "field": field.pk,
        "key": custom_key(field), "value": CUSTOM_VALUE, "message": ALERT,
    }  # fmt: skip
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RAW_ACCOUNTS_SQL, params)
        accounts = cursor.rowcount
        cursor.execute(RAW_CUSTOM_SQL, params)
        values = cursor.rowcount
        cursor.execute(RAW_ALERTS_SQL, params)
        alerts = cursor.rowcount
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        seconds = time.perf_counter() - started
        cursor.execute(
            "SELECT count(*) FROM bulkops_auditevent WHERE bulk_operation_id IS NULL"
            " AND actor_id = %s AND occurred_at = now()",
            [actor_id],
        )
        audit_rows = cursor.fetchone()[0]
        transaction.set_rollback(True)
    rows = {
        "accounts_updated": accounts, "custom_values_written": values, "alerts": alerts,
        "audit_rows": audit_rows,
    }  # fmt: skip
    return rows, seconds


def bench_mass_edit() -> dict:
    from django.db import connection
    from django.db.models import Count
    from django.http import QueryDict

    from accounts.models import Account, CustomFieldValue
    from bulkops.models import AuditEvent, BulkOperation
    from bulkops.registry import get_action
    from bulkops.selection import Selection
    from bulkops.services import preview_token, start_operation

    if connection.vendor != "postgresql":
        return {"skipped": "PostgreSQL only (the baseline is PostgreSQL's SQL)."}
    user = operator()
    total = Account.objects.count()
    file_type, field, made = _config()
    need = {
        "stage": Account.objects.exclude(stage=STAGE).count(),
        "file_type": Account.objects.exclude(file_type=file_type).count(),
        "custom_value_updated": CustomFieldValue.objects.filter(field=field)
        .exclude(value=CUSTOM_VALUE)
        .count(),
    }
    need["custom_value_inserted"] = total - CustomFieldValue.objects.filter(field=field).count()
    with connection.cursor() as cursor:
        _save_state(cursor, field.pk)
    operation = None
    try:
        vacuum(*TABLES)
        baseline_rows, baseline_seconds = _baseline(user.pk, file_type.pk, field)
        vacuum(*TABLES)

        action = get_action("mass_edit")
        data = form_data(file_type, field)
        form = action.get_form(data, user=user, selected_count=total)
        if not form.is_valid():
            raise RuntimeError(f"the Mass Edit form is invalid: {form.errors.as_json()}")
        # What the preview page hands to the confirmation (its own work, the
        # describing of the changes, is not timed: it is a page before).
        token = preview_token(action, count=total, parameters=action.all_parameters(form))
        worker = WorkerProcess()
        started = time.perf_counter()
        operation = start_operation(
            user=user,
            action_key="mass_edit",
            selection=Selection.for_filters("accounts", QueryDict()).select_all(),
            confirmed_count=total,
            data={**data, "preview_token": token},
            idempotency_key=f"bench-mass-edit-{time.time_ns()}",
        )
        snapshot_seconds = time.perf_counter() - started
        state, peak_mb = worker.run(operation.pk)
        seconds = time.perf_counter() - started
        operation.refresh_from_db()
        audit = dict(
            AuditEvent.objects.filter(bulk_operation=operation)
            .values_list("action")
            .annotate(n=Count("pk"))
            .values_list("action", "n")
        )
    finally:
        with connection.cursor() as cursor:
            left_over = _restore(cursor, operation.pk if operation else None, field.pk)
        if operation is not None:
            BulkOperation.objects.filter(pk=operation.pk).delete()
        for row in made:
            row.delete()
        vacuum(*TABLES)

    engine_rate = operation.succeeded / seconds if seconds else 0
    baseline_rate = total / baseline_seconds if baseline_seconds else 0
    return {
        "accounts": total,
        "sections": ["stage", "file_type", f"custom:{field.key}", "alert"],
        "needing_change": need,
        "final_state": state,
        "accounts_changed": operation.succeeded,
        "skipped": operation.skipped,
        "failed": operation.failed,
        "audit_rows": audit,
        "end_to_end_seconds": round(seconds, 1),
        "snapshot_seconds": round(snapshot_seconds, 1),
        "worker_peak_memory_mb": float(peak_mb),
        "engine_accounts_per_second": round(engine_rate),
        "raw_sql_rows": baseline_rows,
        "raw_sql_seconds": round(baseline_seconds, 1),
        "raw_sql_accounts_per_second": round(baseline_rate),
        "throughput_vs_raw_sql": round(engine_rate / baseline_rate, 2) if baseline_rate else None,
        "target_ratio": 0.5,
        "rows_differing_from_before_after_restore": left_over,
    }
