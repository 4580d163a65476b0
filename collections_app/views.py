from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.models import Count, Sum
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.selectors import accounts_visible_to
from bulkops.selectors import last_worker_heartbeat, workers_alive


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
