"""Test settings: the production settings with plain HTTP and fast hashing."""

import os

os.environ.setdefault("HTTPS", "false")

from collections_app.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Tests that start a real Celery worker need the test database to be shared
# with that process: on SQLite that means a file, not ":memory:".
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
