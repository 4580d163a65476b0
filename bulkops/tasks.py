"""Thin Celery wrappers around bulkops.services."""

from celery import shared_task

from bulkops import services
from bulkops.exports import files
from bulkops.services import selection_files


@shared_task(name="bulkops.record_heartbeat", ignore_result=True)
def record_heartbeat():
    from celery import current_task

    services.record_worker_heartbeat(worker=current_task.request.hostname or "unknown")


@shared_task(name="bulkops.run_bulk_operation", ignore_result=True, acks_late=True)
def run_bulk_operation(operation_id: int):
    services.run_operation(operation_id)


@shared_task(name="bulkops.sweep_stale_operations", ignore_result=True)
def sweep_stale_operations():
    services.sweep_stale_operations()


@shared_task(name="bulkops.start_due_operations", ignore_result=True)
def start_due_operations():
    """Scheduled operations whose date has come are queued; approvals that
    came too late expire."""
    services.release_scheduled_operations()
    services.expire_stale_approvals()


@shared_task(name="bulkops.purge_expired_exports", ignore_result=True)
def purge_expired_exports():
    files.purge_expired_exports()


@shared_task(name="bulkops.purge_expired_selection_files", ignore_result=True)
def purge_expired_selection_files():
    selection_files.purge_expired_selection_files()
