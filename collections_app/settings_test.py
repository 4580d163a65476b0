"""Test settings: the production settings with plain HTTP and fast hashing."""

import os

os.environ.setdefault("HTTPS", "false")

from collections_app.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
