from tests.bulkops.conftest import celery_workers  # noqa: F401 (fixture: real workers)
