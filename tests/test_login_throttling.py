"""Login throttling (django-axes) through the real login pages: per username
and per client address, the cool-off, the reset after a success, the lockout
page and the audit trail. Nothing is mocked: the test client posts the forms
as a browser would, from the address given as REMOTE_ADDR."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from axes.helpers import get_client_ip_address
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import F
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django.utils import dateformat, timezone

from bulkops.models import AuditEvent
from collections_app import security
from tests.factories import UserFactory
from tests.test_deploy_settings import production_env, run_python

LOGIN = "/login/"
ADMIN_LOGIN = "/admin/login/"
LIMIT = settings.AXES_FAILURE_LIMIT
COOL_OFF = settings.AXES_COOLOFF_TIME
WRONG = "not-the-password-9f3k"
ADDRESS = "198.51.100.7"
GENERIC_ERROR = "correct username and password"  # both forms say it, for any username


def post_login(client, path, username, password, address=ADDRESS, **extra):
    data = {"username": username, "password": password}
    if path == LOGIN:
        data["next"] = "/"
    return client.post(path, data, REMOTE_ADDR=address, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def assert_locked_out(response):
    assert response.status_code == 429, response.status_code
    assert "Too many failed logins" in response.content.decode()


@pytest.fixture
def staff(company, password):
    return UserFactory(username="staffer", company=company, is_staff=True, is_superuser=True)


def test_the_defaults_are_five_failures_and_fifteen_minutes():
    assert LIMIT == 5
    assert dt.timedelta(minutes=15) == COOL_OFF
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]


# --- the reproduction: 20 wrong passwords, then the right one -----------------


@pytest.mark.parametrize("path", [LOGIN, ADMIN_LOGIN])
def test_twenty_wrong_passwords_then_the_right_one_is_refused(client, staff, password, path):
    for attempt in range(1, 21):
        response = post_login(client, path, staff.username, WRONG)
        if attempt < LIMIT:
            assert response.status_code == 200, attempt
            assert GENERIC_ERROR in response.content.decode()
        else:
            assert_locked_out(response)

    response = post_login(client, path, staff.username, password)
    assert_locked_out(response)
    assert not logged_in(client)
    # Only the failures up to the limit were counted: the refused ones were not.
    assert sum(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == LIMIT


def test_the_other_login_page_is_locked_too(client, staff, password):
    for _ in range(LIMIT):
        post_login(client, LOGIN, staff.username, WRONG)
    assert_locked_out(post_login(client, ADMIN_LOGIN, staff.username, password))
    assert not logged_in(client)


# --- per address and per username ---------------------------------------------------------


def test_one_address_is_locked_out_across_usernames(client, collector, password):
    for name in ["alice", "bob", "nobody-here", "carol", "collector"][:LIMIT]:
        response = post_login(client, LOGIN, name, WRONG, address="203.0.113.50")
    assert_locked_out(response)

    # Any username, even with its right password, from that address...
    assert_locked_out(post_login(client, LOGIN, "collector", password, address="203.0.113.50"))
    assert not logged_in(client)
    # ...but the same user from elsewhere gets in: each username had one failure.
    response = post_login(client, LOGIN, "collector", password, address="203.0.113.51")
    assert response.status_code == 302
    assert logged_in(client)


def test_one_username_is_locked_out_across_addresses(client, collector, supervisor, password):
    for n in range(LIMIT):
        response = post_login(client, LOGIN, "collector", WRONG, address=f"192.0.2.{n + 1}")
    assert_locked_out(response)

    # The right password from yet another address is refused too...
    assert_locked_out(post_login(client, LOGIN, "collector", password, address="192.0.2.99"))
    assert not logged_in(client)
    # ...while another user of one of those addresses is not concerned.
    response = post_login(client, LOGIN, "supervisor", password, address="192.0.2.1")
    assert response.status_code == 302
    assert logged_in(client)


# --- the cool-off --------------------------------------------------------------------------


def age_attempts(by: dt.timedelta):
    """Move every recorded attempt back in time, as if ``by`` had passed."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - by)


def test_the_lockout_ends_after_the_cool_off(client, collector, password):
    for _ in range(LIMIT):
        post_login(client, LOGIN, "collector", WRONG)

    age_attempts(COOL_OFF - dt.timedelta(minutes=1))  # a minute before the end
    assert_locked_out(post_login(client, LOGIN, "collector", password))

    age_attempts(dt.timedelta(minutes=1, seconds=1))  # just past it
    response = post_login(client, LOGIN, "collector", password)
    assert response.status_code == 302
    assert logged_in(client)


def test_attempts_during_the_lockout_do_not_extend_it(client, collector, password):
    for _ in range(LIMIT):
        post_login(client, LOGIN, "collector", WRONG)
    age_attempts(COOL_OFF - dt.timedelta(minutes=5))
    for _ in range(10):  # the owner, or an attacker, keeps trying
        assert_locked_out(post_login(client, LOGIN, "collector", WRONG))
    age_attempts(dt.timedelta(minutes=5, seconds=1))
    assert post_login(client, LOGIN, "collector", password).status_code == 302


# --- a success resets ----------------------------------------------------------------------


def test_a_success_resets_the_count(client, collector, password):
    for _ in range(LIMIT - 1):
        assert post_login(client, LOGIN, "collector", WRONG).status_code == 200
    assert post_login(client, LOGIN, "collector", password).status_code == 302
    assert not AccessAttempt.objects.filter(username="collector").exists()

    client.post(reverse("logout"))
    for _ in range(LIMIT - 1):  # a fresh allowance, not one failure left
        assert post_login(client, LOGIN, "collector", WRONG).status_code == 200
    assert post_login(client, LOGIN, "collector", password).status_code == 302


def test_logging_in_as_oneself_does_not_reset_guesses_at_someone_else(
    client, collector, supervisor, password
):
    """axes' own AXES_RESET_ON_SUCCESS would delete every attempt of the address:
    anyone with an account could then guess a colleague's password without end,
    logging in as themselves every few tries. Only one's own failures go."""
    for _ in range(LIMIT - 1):
        post_login(client, LOGIN, "supervisor", WRONG)
    assert post_login(client, LOGIN, "collector", password).status_code == 302
    client.post(reverse("logout"))
    assert_locked_out(post_login(client, LOGIN, "supervisor", WRONG))


# --- audited ---------------------------------------------------------------------------------


def events(action):
    return AuditEvent.objects.filter(action=action).order_by("pk")


def test_failures_and_the_lockout_are_in_the_audit_trail_without_the_password(
    client, collector, password, caplog
):
    caplog.set_level(logging.INFO)
    for _ in range(LIMIT + 10):
        post_login(client, LOGIN, "collector", WRONG)
    assert_locked_out(post_login(client, LOGIN, "collector", password))

    failed = list(events(security.ACTION_FAILED))
    assert [e.changes["failures"][1] for e in failed] == list(range(1, LIMIT + 1))
    assert {(e.object_type, e.object_id) for e in failed} == {("accounts.user", collector.pk)}
    (lockout,) = events(security.ACTION_LOCKED_OUT)  # once, not once per refused attempt
    assert lockout.pk > failed[-1].pk  # after the failure that caused it
    assert (lockout.object_type, lockout.object_id) == ("accounts.user", collector.pk)
    assert lockout.actor is None
    changes = {field: after for field, (_before, after) in lockout.changes.items()}
    assert changes["username"] == "collector"
    assert changes["ip_address"] == ADDRESS
    assert changes["path"] == LOGIN
    assert changes["locked_by"] == "username, ip_address"
    assert changes["failures"] == LIMIT
    latest = AccessAttempt.objects.latest("attempt_time").attempt_time
    assert dt.datetime.fromisoformat(changes["locked_until"]) == latest + COOL_OFF

    # The password, right or wrong, is nowhere: not in the trail, not in
    # axes' own rows, not in the logs.
    trail = json.dumps(list(AuditEvent.objects.values("changes")))
    rows = json.dumps(list(AccessAttempt.objects.values("get_data", "post_data")))
    for secret in (WRONG, password):
        assert secret not in trail
        assert secret not in rows
        assert secret not in caplog.text
    assert "Login locked out by username, ip_address from 198.51.100.7" in caplog.text


def test_an_unknown_username_is_audited_under_the_sentinel(client, db):
    typed = "x" * 300  # longer than any username, and than axes' column
    statuses = [post_login(client, LOGIN, typed, WRONG).status_code for _ in range(LIMIT)]
    assert statuses == [200] * (LIMIT - 1) + [429]
    assert AccessAttempt.objects.get().username == "x" * security.USERNAME_MAX
    (lockout,) = events(security.ACTION_LOCKED_OUT)
    assert (lockout.object_type, lockout.object_id) == security.UNKNOWN_USERNAME
    assert lockout.changes["username"] == [None, "x" * security.USERNAME_MAX]
    assert events(security.ACTION_FAILED).count() == LIMIT


def test_a_company_sees_its_users_lockouts_in_the_audit_log(client, collector, supervisor):
    for _ in range(LIMIT):
        post_login(client, LOGIN, "collector", WRONG)
    for _ in range(LIMIT):
        post_login(client, LOGIN, "nobody-at-all", WRONG, address="203.0.113.9")
    client.force_login(supervisor)
    page = client.get(reverse("bulkops:audit-log"), {"action": "login."}).content.decode()
    assert page.count("login.locked_out") == 1  # the collector's; the sentinel's is not theirs
    assert page.count("login.failed") == LIMIT
    assert "nobody-at-all" not in page


# --- a clear message ------------------------------------------------------------------------


def test_the_lockout_page_says_when_and_whom_to_ask(client, collector):
    for _ in range(LIMIT):
        response = post_login(client, LOGIN, "collector", WRONG)
    assert_locked_out(response)
    html = response.content.decode()
    latest = AccessAttempt.objects.latest("attempt_time").attempt_time
    retry_at = timezone.localtime(latest + COOL_OFF)
    assert (
        f'You can try again after <strong data-testid="retry-at">{dateformat.format(retry_at, "H:i T")}</strong>'
        in html
    )
    assert "(in about 15 minutes)" in html
    assert "Ask a platform administrator" in html
    assert "your company's" in html.replace("&#x27;", "'")
    assert 'class="navbar-brand"' in html  # the app's look: base.html
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60


def test_the_pages_do_not_tell_whether_the_username_exists(client, collector):
    known = post_login(client, LOGIN, "collector", WRONG, address="203.0.113.1")
    unknown = post_login(client, LOGIN, "no-such-user", WRONG, address="203.0.113.2")
    assert known.status_code == unknown.status_code == 200

    def error(response):
        return response.context["form"].non_field_errors()

    assert error(known) == error(unknown)
    for _ in range(LIMIT - 1):
        known = post_login(client, LOGIN, "collector", WRONG, address="203.0.113.1")
        unknown = post_login(client, LOGIN, "no-such-user", WRONG, address="203.0.113.2")
    assert known.status_code == unknown.status_code == 429
    for response in (known, unknown):
        assert "registration/locked_out.html" in [t.name for t in response.templates]


def test_client_login_still_works_in_tests(client, collector, password):
    assert client.login(username="collector", password=password)
    client.logout()
    for _ in range(LIMIT):
        assert not client.login(username="collector", password=WRONG)
    assert not client.login(username="collector", password=password)  # axes is on


# --- the client address behind a proxy ---------------------------------------------------------


PROXY = {
    "AXES_IPWARE_META_PRECEDENCE_ORDER": ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"),
    "AXES_IPWARE_PROXY_COUNT": 0,
    "IPWARE_STRICT": False,
}


def client_ip(xff=None, remote="10.0.0.2"):
    extra = {"REMOTE_ADDR": remote}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return get_client_ip_address(RequestFactory().post(LOGIN, **extra))


def test_without_a_proxy_the_address_is_the_peer_and_x_forwarded_for_is_ignored():
    assert settings.AXES_IPWARE_META_PRECEDENCE_ORDER == ("REMOTE_ADDR",)
    assert client_ip(xff="198.51.100.1", remote="203.0.113.9") == "203.0.113.9"


@override_settings(**PROXY)
def test_behind_one_proxy_the_address_is_the_one_it_appended():
    assert client_ip(xff="198.51.100.20") == "198.51.100.20"
    # A client writing its own X-Forwarded-For changes nothing: the proxy
    # appends the real address after it.
    assert client_ip(xff="1.2.3.4, 198.51.100.20") == "198.51.100.20"
    assert client_ip(xff="8.8.8.8, 10.9.9.9, 198.51.100.20") == "198.51.100.20"
    # Reached without the proxy (no header): the peer itself.
    assert client_ip(remote="203.0.113.77") == "203.0.113.77"


@override_settings(**{**PROXY, "AXES_IPWARE_PROXY_COUNT": 1})
def test_behind_two_proxies_the_address_is_the_second_from_the_right():
    assert client_ip(xff="198.51.100.20, 10.0.0.3") == "198.51.100.20"
    assert client_ip(xff="1.2.3.4, 198.51.100.20, 10.0.0.3") == "198.51.100.20"


@override_settings(**PROXY)
def test_a_forged_x_forwarded_for_does_not_escape_the_address_lockout(client, db):
    for n in range(LIMIT):
        response = client.post(
            LOGIN,
            {"username": f"user{n}", "password": WRONG},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 198.51.100.30",
        )
    assert_locked_out(response)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.30"}


@pytest.mark.parametrize(
    ("environment", "order", "count"),
    [
        ({"HTTPS": "false"}, ["REMOTE_ADDR"], None),
        ({}, ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"], 0),  # HTTPS on by default
        ({"PROXY_COUNT": "2"}, ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"], 1),
        ({"PROXY_COUNT": "0"}, ["REMOTE_ADDR"], None),
        ({"PROXY_COUNT": ""}, ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"], 0),  # compose's empty
    ],
)
def test_the_environment_sets_where_the_address_comes_from(tmp_path, environment, order, count):
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([list(s.AXES_IPWARE_META_PRECEDENCE_ORDER), s.AXES_IPWARE_PROXY_COUNT,"
        " getattr(s, 'IPWARE_STRICT', None), s.AXES_FAILURE_LIMIT,"
        " s.AXES_COOLOFF_TIME.total_seconds()]))"
    )
    env = production_env(
        tmp_path, LOGIN_FAILURE_LIMIT="7", LOGIN_COOLOFF_MINUTES="30", **environment
    )
    result = run_python("-c", script, env=env)
    assert result.returncode == 0, result.stderr
    got_order, got_count, strict, limit, cool_off = json.loads(result.stdout.splitlines()[-1])
    assert (got_order, got_count) == (order, count)
    assert strict is (False if count is not None else None)
    assert (limit, cool_off) == (7, 30 * 60)
