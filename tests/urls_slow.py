"""The project's URLs and, for tests of the web statement timeout, one view
whose query runs past a (small) statement timeout."""

from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import path

from collections_app.urls import urlpatterns as project_urls


def slow(request):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '50ms'")
        cursor.execute("SELECT pg_sleep(5)")
    return HttpResponse("finished")


urlpatterns = [path("slow/", slow), *project_urls]
