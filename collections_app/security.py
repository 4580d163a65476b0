"""Login throttling around django-axes: the lockout page, the audit trail of
failed logins and lockouts, and the reset after a successful login.

axes counts failures per username and per client address (settings: the
``AXES_*`` block). This module adds what the project needs on top:

- ``lockout_response`` (``AXES_LOCKOUT_CALLABLE``): the 429 page in the app's
  look, saying when logging in is possible again and whom to ask.
- ``audit_login_failed`` / ``audit_lockout``: an ``AuditEvent`` for each failed
  login axes counted and for each lockout, naming the user when the username
  exists, else the sentinel ``UNKNOWN_USERNAME`` (object type
  ``security.unknown_username``, id 0). They record the username as typed
  (truncated) and the client address, never the password. Attempts refused
  *during* a lockout are not audited one by one: axes does not count them
  either, so a flood of them writes nothing.
- ``reset_after_login``: a successful login forgives the failures of that
  username from that address only (see AXES_RESET_ON_SUCCESS in settings).

The receivers are connected in ``CollectionsAppConfig.ready``; ``axes`` comes
before ``collections_app`` in INSTALLED_APPS so that axes' own receivers have
run (and annotated the request) when ours do.
"""

from __future__ import annotations

import datetime as dt
import logging
import math

from django.contrib.auth import get_user_model
from django.shortcuts import render
from django.utils import timezone

logger = logging.getLogger(__name__)

# What a login event names when the username typed is nobody's.
UNKNOWN_USERNAME = ("security.unknown_username", 0)
USERNAME_MAX = 150  # as typed, truncated: User.username's own length

ACTION_FAILED = "login.failed"
ACTION_LOCKED_OUT = "login.locked_out"


def _typed(username) -> str:
    return str(username or "")[:USERNAME_MAX]


def client_username(request, credentials) -> str | None:
    """AXES_USERNAME_CALLABLE: what axes' default reads (the credentials, else
    the POSTed form), cut to ``USERNAME_MAX``. No user has a longer username,
    so nothing is lost, and axes never stores more than its column holds."""
    from django.conf import settings

    field = settings.AXES_USERNAME_FORM_FIELD
    value = credentials.get(field) if credentials else request.POST.get(field)
    return None if value is None else _typed(value)


def _subject(username: str) -> tuple[str, int, int | None]:
    """(object_type, object_id, company id) of the user with this username,
    or the sentinel (no company: platform operators only see those)."""
    from bulkops.services import object_type_of

    User = get_user_model()
    found = (
        User.objects.filter(**{User.USERNAME_FIELD: username})
        .values_list("pk", "company_id")
        .first()
        if username
        else None
    )
    if found is None:
        return (*UNKNOWN_USERNAME, None)
    return (object_type_of(User), *found)


def lockout_state(request, credentials) -> tuple[list[str], dt.datetime]:
    """Which of the lockout parameters are over the limit, and when the last of
    them falls back under it. A parameter's attempts (one row per username,
    address and user agent, each with a count and its latest time) leave the
    window one by one as their time passes the cool-off: it unlocks when the
    newest rows alone no longer reach the limit."""
    from axes.handlers.proxy import AxesProxyHandler
    from axes.helpers import get_cool_off, get_failure_limit, get_lockout_parameters

    AxesProxyHandler.update_request(request)
    now = getattr(request, "axes_attempt_time", None) or timezone.now()
    cool_off = get_cool_off(request) or dt.timedelta(0)
    limit = get_failure_limit(request, credentials)
    handler = AxesProxyHandler.get_implementation()
    if not hasattr(handler, "get_user_attempts"):  # a handler without rows (cache)
        return [], now + cool_off
    locked_by, until = [], None
    parameters = get_lockout_parameters(request, credentials)
    for parameter, attempts in zip(
        parameters, handler.get_user_attempts(request, credentials), strict=True
    ):
        total = 0
        for attempt_time, failures in attempts.order_by("-attempt_time").values_list(
            "attempt_time", "failures_since_start"
        ):
            total += failures
            if total >= limit:
                locked_by.append(parameter if isinstance(parameter, str) else "+".join(parameter))
                unlocks = attempt_time + cool_off
                until = unlocks if until is None else max(until, unlocks)
                break
    return locked_by, until or now + cool_off


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out login gets (AXES_LOCKOUT_CALLABLE), status 429.
    The same for a username that exists and one that does not."""
    from django.conf import settings

    _locked_by, until = lockout_state(request, credentials)
    seconds = max(0, math.ceil((until - timezone.now()).total_seconds()))
    response = render(
        request,
        "registration/locked_out.html",
        {
            "retry_at": until,
            "retry_minutes": max(1, math.ceil(seconds / 60)),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(seconds)
    return response


def _record(action: str, request, username: str, changes: dict) -> None:
    from bulkops.services import record_audit_event_about

    object_type, object_id, company_id = _subject(username)
    record_audit_event_about(
        actor=None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        company_id=company_id,
        changes={
            "username": (None, username),
            "ip_address": (None, getattr(request, "axes_ip_address", None)),
            "path": (None, request.path[:200]),
            **changes,
        },
    )


def audit_login_failed(sender, credentials, request=None, **kwargs):
    """``user_login_failed``: one event per failure axes counted, then the
    lockout if this failure caused one (``audit_lockout`` left it on the
    request, so the trail reads in the order things happened). A login refused
    because of a lockout was not counted (axes leaves
    ``axes_failures_since_start`` unset) and is not audited one by one."""
    if request is None or getattr(request, "axes_failures_since_start", None) is None:
        return
    # Django has already replaced the password in ``credentials``; only the
    # username is read anyway.
    from django.conf import settings

    username = _typed((credentials or {}).get(settings.AXES_USERNAME_FORM_FIELD))
    _record(
        ACTION_FAILED,
        request,
        username,
        {"failures": (None, request.axes_failures_since_start)},
    )
    lockout = getattr(request, "_lockout_audit", None)
    if lockout is not None:
        _record(ACTION_LOCKED_OUT, request, lockout.pop("username"), lockout)
        request._lockout_audit = None


def audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    """``axes.signals.user_locked_out``: axes sends it (from its own
    ``user_login_failed`` receiver, before ours) when a failure reaches the
    limit, and again for every login refused during the lockout; only the
    first, the lockout itself, is audited, by ``audit_login_failed``."""
    if request is None:
        return
    if getattr(request, "axes_failures_since_start", None) is None:
        logger.info("Login refused during a lockout (%s)", ip_address)
        return
    credentials = getattr(request, "axes_credentials", None)
    locked_by, until = lockout_state(request, credentials)
    typed = _typed(username)
    # The username is in the audit trail, not in the logs (as axes' own lines).
    logger.warning(
        "Login locked out by %s from %s until %s",
        ", ".join(locked_by) or "?",
        ip_address,
        until.isoformat(),
    )
    request._lockout_audit = {
        "username": typed,
        "locked_by": (None, ", ".join(locked_by)),
        "failures": (None, request.axes_failures_since_start),
        "locked_until": (None, until),
    }


def reset_after_login(sender, request, user, **kwargs):
    """``user_logged_in``: forget this username's failures from this address
    (the typos of the person who just got in), nothing else. A login without
    a client address (``Client.force_login``'s bare request) resets nothing."""
    from axes.handlers.proxy import AxesProxyHandler
    from axes.utils import reset

    if request is None:
        return
    AxesProxyHandler.update_request(request)
    ip_address = getattr(request, "axes_ip_address", None)
    if ip_address:
        reset(ip=ip_address, username=user.get_username())
