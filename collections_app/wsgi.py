import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collections_app.settings")
application = get_wsgi_application()

# Web processes only (gunicorn and runserver load this module; workers don't).
from collections_app import timeouts  # noqa: E402

timeouts.install()
