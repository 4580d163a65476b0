"""Thin Celery wrappers around billing's services."""

from celery import shared_task

from billing import fees, promises


@shared_task(name="billing.settle_promises", ignore_result=True)
def settle_promises():
    """Promises to pay kept or broken. Run every hour, each promise is
    settled once, in the first hour after its due date ends in its office's
    zone (or as soon as its payments cover it)."""
    promises.settle_promises()


@shared_task(name="billing.purge_fee_verifications", ignore_result=True)
def purge_fee_verifications():
    """Add Fees' verifications older than an hour, with their rows (up to a
    row per selected account each), deleted: every hour."""
    fees.purge_expired_verifications()
