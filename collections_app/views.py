import json
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.models import Count, Sum
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import accounts_visible_to
from bulkops.selectors import last_worker_heartbeat, workers_alive

csp_logger = logging.getLogger("collections_app.csp")


@require_GET
def home(request):
    """The landing page: what the user's company holds, at a glance."""
    summary = accounts_visible_to(request.user).aggregate(
        accounts=Count("pk"), balance=Sum("current_balance")
    )
    assigned = accounts_visible_to(request.user).filter(assigned_to=request.user).count()
    return render(
        request,
        "home.html",
        {
            "summary": summary,
            "assigned_to_me": assigned,
            "role": request.user.role,
            "workers_alive": workers_alive(),
            "last_heartbeat": last_worker_heartbeat(),
        },
    )


@login_not_required
@never_cache
@require_GET
def health(request):
    """Liveness for load balancers and docker-compose: the database answers.
    Also says whether a Celery worker was seen recently (not a failure: the
    web tier is healthy without one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "worker": "ok" if workers_alive() else "not seen"})


def _report_field(report: dict, *names: str) -> str:
    """One field of a violation report, printable and short: reports come
    from anyone, and end up in the operators' logs."""
    for name in names:
        value = report.get(name)
        if value not in (None, ""):
            text = str(value)
            return "".join(c if c.isprintable() else "?" for c in text)[:300]
    return "-"


@login_not_required
@csrf_exempt  # a browser posts reports without our token, and they change nothing
@require_POST
def csp_report(request):
    """The Content-Security-Policy's report-uri: log what the browser blocked.
    Accepts report-uri's ``{"csp-report": {...}}`` and the Reporting API's
    ``[{"type": "csp-violation", "body": {...}}]``; always 204 unless the body is
    too big (413)."""
    limit = settings.CSP_REPORT_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return HttpResponse(status=413)
    body = request.read(limit + 1)
    if len(body) > limit:
        return HttpResponse(status=413)
    try:
        document = json.loads(body)
    except ValueError:
        csp_logger.warning("CSP report that is not JSON (%d bytes)", len(body))
        return HttpResponse(status=204)
    if isinstance(document, dict):
        reports = [document.get("csp-report", document)]
    elif isinstance(document, list):
        reports = [item.get("body", item) for item in document if isinstance(item, dict)]
    else:
        reports = []
    for report in reports[:20]:
        if not isinstance(report, dict):
            continue
        csp_logger.warning(
            "CSP violation: %s blocked %s on %s",
            _report_field(
                report, "effective-directive", "effectiveDirective", "violated-directive"
            ),
            _report_field(report, "blocked-uri", "blockedURL"),
            _report_field(report, "document-uri", "documentURL"),
        )
    return HttpResponse(status=204)
