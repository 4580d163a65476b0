"""Writes of the bulkops app, by concern: the audit trail (``audit``), the
engine that confirms and processes operations (``engine``), what users and
beat do to operations afterwards (``operations``) and the workers'
heartbeat (``workers``). The names other apps and views use are here."""

from bulkops.services.audit import (
    audit_insert_sql,
    audited_update,
    object_type_of,
    record_audit_event,
    record_audit_event_about,
    record_audit_events,
    record_field_change,
    record_same_change,
)
from bulkops.services.engine import (
    CANCELLED_REASON,
    ChunkResult,
    CountChanged,
    InvalidParameters,
    OperationRefused,
    enqueue_operation,
    preview_token,
    process_next_chunk,
    run_operation,
    snapshot_items,
    start_operation,
)
from bulkops.services.operations import (
    approve,
    expire_stale_approvals,
    may_approve,
    may_cancel,
    may_undo,
    reject,
    release_scheduled_operations,
    request_cancel,
    retry_failed,
    start_undo,
    sweep_stale_operations,
)
from bulkops.services.workers import record_worker_heartbeat

__all__ = [
    "CANCELLED_REASON",
    "ChunkResult",
    "CountChanged",
    "InvalidParameters",
    "OperationRefused",
    "approve",
    "audit_insert_sql",
    "audited_update",
    "enqueue_operation",
    "expire_stale_approvals",
    "may_approve",
    "may_cancel",
    "may_undo",
    "object_type_of",
    "preview_token",
    "process_next_chunk",
    "record_audit_event",
    "record_audit_event_about",
    "record_audit_events",
    "record_field_change",
    "record_same_change",
    "record_worker_heartbeat",
    "reject",
    "release_scheduled_operations",
    "request_cancel",
    "retry_failed",
    "run_operation",
    "snapshot_items",
    "start_operation",
    "start_undo",
    "sweep_stale_operations",
]
