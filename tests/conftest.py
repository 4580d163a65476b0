"""Fixtures shared by the model and service tests: two companies and one
user per role, all with the password ``DEFAULT_PASSWORD``."""

import importlib
import os

import pytest
from django.test import Client as DjangoClient
from django.test import RequestFactory

from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from tests.factories import DEFAULT_PASSWORD, CompanyFactory, UserFactory


@pytest.fixture
def password():
    return DEFAULT_PASSWORD


@pytest.fixture
def company(db):
    return CompanyFactory(name="Acme Recovery")


@pytest.fixture
def other_company(db):
    return CompanyFactory(name="Other Agency")


@pytest.fixture
def collector(company):
    return UserFactory(username="collector", company=company, role=COLLECTOR)


@pytest.fixture
def supervisor(company):
    return UserFactory(username="supervisor", company=company, role=SUPERVISOR)


@pytest.fixture
def admin_user(company):
    return UserFactory(username="admin", company=company, role=ADMIN)


class Client(DjangoClient):
    """Django's test client, whose ``login()`` gives ``authenticate()`` a
    request: django-axes (the first authentication backend) refuses to check
    credentials without one, and Django 5.2's ``Client.login`` passes none.
    The request is a login POST from 127.0.0.1, so axes counts a wrong
    password as it would from the login page. Nothing else changes: axes is
    not disabled, and ``force_login`` never authenticates anyway."""

    def login(self, **credentials):
        credentials.setdefault("request", RequestFactory().post("/login/"))
        return super().login(**credentials)


@pytest.fixture
def client():
    return Client()


@pytest.fixture
def roles(transactional_db):
    """The role groups with their permissions, for tests that commit
    (live-server, worker and wipe tests). ``transactional_db`` flushes every
    table after each test, so the groups the role migrations created are gone
    for the next such test: run those migrations' own functions again (one
    definition of each role, no copy here)."""
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    # The migrations expect historical models, as when they run in migrate.
    # Every migration that grants role permissions (``create_roles`` or
    # ``grant``) runs again, in migration order, so a new one is never missed.
    loader = MigrationLoader(connection)
    seen: set[tuple[str, str]] = set()
    apps = loader.project_state().apps
    for key in loader.graph.leaf_nodes():
        for app_label, name in loader.graph.forwards_plan(key):
            if app_label not in {"accounts", "billing", "bulkops", "communications"}:
                continue
            module = importlib.import_module(f"{app_label}.migrations.{name}")
            function = getattr(module, "create_roles", None) or getattr(module, "grant", None)
            if function is not None and (app_label, name) not in seen:
                seen.add((app_label, name))
                function(apps, None)
    return {group.name: group for group in Group.objects.all()}


@pytest.fixture
def smtp(settings):
    """A real SMTP server on loopback, Django's SMTP backend pointed at it;
    yields its Inbox."""
    from aiosmtpd.controller import Controller

    from collections_app.devservers.smtp import Inbox, free_port

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    yield inbox
    controller.stop()


@pytest.fixture
def twilio_loopback(settings):
    """A loopback server speaking Twilio's Messages and Calls API, Twilio's
    client pointed at it (no status callbacks); yields the server, whose
    ``requests`` are what it was asked."""
    from collections_app.devservers.twilio import TwilioServer

    sid, token = "AC" + "0" * 32, "loopback-token"
    with TwilioServer(sid, token) as server:
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = sid, token
        settings.TWILIO_FROM_NUMBER = "+15005550006"
        settings.TWILIO_API_BASE = server.url
        settings.TWILIO_STATUS_CALLBACK_URL = ""
        yield server


@pytest.fixture(autouse=True)
def _fresh_send_rates(settings):
    """Each test starts with no messages counted against any office's
    per-minute limit: office ids repeat from test to test, and the counts
    live in Redis, outside the rolled-back database."""
    if settings.REDIS_URL:
        from communications import limiter

        client = limiter._redis(settings.REDIS_URL)
        keys = list(client.scan_iter("collections:send-rate:*"))
        if keys:
            client.delete(*keys)
    yield


# EICAR's test file (68 bytes): every virus scanner reports it, nothing runs it.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture(scope="session")
def clamd_server(tmp_path_factory):
    """A real clamd (Debian's, installed by ``make test``) on a unix socket,
    with a one-line signature database: EICAR's hash, so nothing is
    downloaded and it starts in seconds. Yields its ``CLAMD_URL``."""
    import hashlib
    import shutil
    import subprocess
    import time

    from clamav_client.clamd import ClamdUnixSocket

    binary = shutil.which("clamd") or "/usr/sbin/clamd"
    if not os.path.exists(binary):
        pytest.fail("clamd is missing: `make test` installs Debian's clamav-daemon.")
    root = tmp_path_factory.mktemp("clamd")
    (root / "db").mkdir()
    (root / "db" / "eicar.hdb").write_text(
        f"{hashlib.md5(EICAR, usedforsecurity=False).hexdigest()}:{len(EICAR)}:Eicar-Test-Signature\n"
    )
    socket_path = root / "clamd.sock"
    config = root / "clamd.conf"
    config.write_text(
        f"DatabaseDirectory {root / 'db'}\nLocalSocket {socket_path}\nForeground yes\n"
        f"LogFile {root / 'clamd.log'}\nStreamMaxLength 1M\nMaxFileSize 1M\n"
    )
    process = subprocess.Popen([binary, f"--config-file={config}"])
    deadline = time.monotonic() + 60
    while True:
        try:
            if ClamdUnixSocket(str(socket_path), timeout=2).ping() == "PONG":
                break
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("clamd did not start: " + (root / "clamd.log").read_text()[-500:])
            time.sleep(0.2)
    yield {"url": f"unix://{socket_path}", "process": process}
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def clamd(clamd_server, settings):
    settings.CLAMD_URL = clamd_server["url"]
    return clamd_server
