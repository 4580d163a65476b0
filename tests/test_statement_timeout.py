"""Web processes cancel a runaway statement; workers do not.

The web processes (gunicorn and runserver load ``collections_app.wsgi``) set
PostgreSQL's ``statement_timeout`` on every connection; the Celery app never
does. A cancelled statement is answered with a 503 and a sentence."""

import pytest
from django.db import connection

from tests.bulkops.conftest import worker_database_url
from tests.test_deploy_settings import production_env, run_python

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statement_timeout is PostgreSQL's"
)

SHOW_TIMEOUT = (
    "from django.db import connection; c = connection.cursor(); "
    "c.execute('SHOW statement_timeout'); print(c.fetchone()[0])"
)


def shown_timeout(tmp_path, entry: str, **env) -> str:
    result = run_python(
        "-c",
        f"{entry}; {SHOW_TIMEOUT}",
        env=production_env(tmp_path, DATABASE_URL=worker_database_url(), **env),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.django_db
def test_a_web_process_has_the_statement_timeout(tmp_path):
    assert shown_timeout(tmp_path, "import collections_app.wsgi") == "30s"
    assert (
        shown_timeout(tmp_path, "import collections_app.wsgi", WEB_STATEMENT_TIMEOUT_MS="1500")
        == "1500ms"
    )


@pytest.mark.django_db
def test_a_worker_process_has_none(tmp_path):
    entry = "from collections_app.celery import app; import django; django.setup()"
    assert shown_timeout(tmp_path, entry) == "0"


@pytest.mark.django_db
@pytest.mark.urls("tests.urls_slow")
def test_a_cancelled_statement_is_a_503_with_a_sentence(client, collector):
    client.force_login(collector)
    response = client.get("/slow/")
    assert response.status_code == 503
    assert "took too long" in response.content.decode()
    assert "Nothing was changed." in response.content.decode()
