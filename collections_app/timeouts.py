"""A statement timeout for the web processes, never for the workers.

A web request that runs a query for minutes (a count over stale statistics,
say) holds a web worker and a database connection all that time, while
nobody waits for the page any more. Web processes set PostgreSQL's
``statement_timeout`` on each connection they open (``install`` runs from
``collections_app.wsgi``, which gunicorn and runserver both load before
serving); Celery workers and management commands never load it, so a bulk
chunk or a migration runs as long as it needs. A cancelled statement
becomes a clear 503 page instead of a 500 (``StatementTimeoutMiddleware``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import OperationalError
from django.db.backends.signals import connection_created
from django.shortcuts import render

QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a cancelled statement


def set_statement_timeout(sender, connection, **kwargs) -> None:
    milliseconds = settings.WEB_STATEMENT_TIMEOUT_MS
    if connection.vendor != "postgresql" or not milliseconds:
        return
    with connection.cursor() as cursor:
        # A new connection is in autocommit: the setting lasts its lifetime.
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{milliseconds}ms"])


def install() -> None:
    """Give every database connection this process opens from now on the
    web statement timeout."""
    connection_created.connect(set_statement_timeout, dispatch_uid="web-statement-timeout")


def is_statement_timeout(exception: BaseException) -> bool:
    cause = exception.__cause__
    return isinstance(exception, OperationalError) and (
        getattr(cause, "pgcode", None) == QUERY_CANCELED
    )


class StatementTimeoutMiddleware:
    """Answers a request whose query hit the statement timeout with 503 and a
    sentence, not a server error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_statement_timeout(exception):
            return None
        seconds = settings.WEB_STATEMENT_TIMEOUT_MS / 1000
        return render(request, "timeout.html", {"seconds": seconds}, status=503)
