"""Thin Celery wrappers around billing's services."""

from celery import shared_task

from billing import promises


@shared_task(name="billing.settle_promises", ignore_result=True)
def settle_promises():
    """Promises to pay kept or broken. Run every hour, each promise is
    settled once, in the first hour after its due date ends in its office's
    zone (or as soon as its payments cover it)."""
    promises.settle_promises()
