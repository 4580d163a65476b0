"""The workers' heartbeat, which the pages read to say whether bulk
operations will be processed."""

from django.utils import timezone

from bulkops.models import WorkerHeartbeat


def record_worker_heartbeat(*, worker: str) -> None:
    """Note that ``worker`` is alive now."""
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"seen_at": timezone.now()})
