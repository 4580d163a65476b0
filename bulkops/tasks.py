from celery import shared_task

from bulkops import services


@shared_task(name="bulkops.record_heartbeat", ignore_result=True)
def record_heartbeat():
    from celery import current_task

    services.record_worker_heartbeat(worker=current_task.request.hostname or "unknown")
