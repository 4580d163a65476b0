"""Browser fixtures: Playwright driving Debian's Chromium (never a downloaded one)."""

import importlib
import os

import pytest

# A real Celery worker on the test's (and so the live server's) database.
from tests.bulkops.conftest import celery_worker, celery_workers  # noqa: F401

# Playwright's sync API runs an asyncio loop in the test thread; Django's ORM
# refuses to run there unless told the (synchronous) use is deliberate.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def roles(transactional_db):
    """The role groups with their permissions. ``transactional_db`` flushes
    every table after each test, so the groups the role migrations created
    are gone for the next live-server test: run those migrations' own
    functions again (one definition of each role, no copy here)."""
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    # The migrations expect historical models, as when they run in migrate.
    apps = MigrationLoader(connection).project_state().apps
    for module, function in (
        ("accounts.migrations.0002_roles", "create_roles"),
        ("bulkops.migrations.0004_export_roles", "grant"),
    ):
        getattr(importlib.import_module(module), function)(apps, None)
    return {group.name: group for group in Group.objects.all()}
