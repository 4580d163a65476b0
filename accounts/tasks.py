"""Thin Celery wrappers around the accounts app's services."""

from celery import shared_task

from accounts import files

# A scanner that cannot be reached: try again in a minute, then leave it to
# the sweep. A scan that failed: again after 30 s, up to the service's limit.
UNAVAILABLE_RETRY_SECONDS, FAILED_RETRY_SECONDS = 60, 30


@shared_task(name="accounts.scan_account_file", bind=True, ignore_result=True, max_retries=None)
def scan_account_file(self, file_id: int):
    try:
        files.scan(file_id)
    except files.ScannerUnavailable as error:
        if self.request.retries < 3:
            raise self.retry(exc=error, countdown=UNAVAILABLE_RETRY_SECONDS) from error
    except files.ScanFailed as error:
        raise self.retry(exc=error, countdown=FAILED_RETRY_SECONDS) from error


@shared_task(name="accounts.scan_waiting_files", ignore_result=True)
def scan_waiting_files():
    """Files left waiting (the scanner was away) are queued again."""
    for file_id in files.waiting_files():
        scan_account_file.delay(file_id)
