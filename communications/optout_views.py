"""The public page of an email's opt-out link, ``/optout/<token>/``: no
login, the signed token is the only credential (``communications.optout``).

GET shows what will happen and a button, and changes nothing (mail
scanners and link previews open links by themselves). POST opts out: from
the page's button, or from a mail client's one-click unsubscribe (RFC 8058:
a POST of ``List-Unsubscribe=One-Click`` to the ``List-Unsubscribe`` URL,
with no cookie and so no CSRF token). The POST is therefore exempt from
CSRF, which would add nothing here: whoever holds the token may opt out
with it, as the RFC intends. A changed or made-up token gets 400, an
expired one 410, each with a page saying what to do instead, and neither
changes anything."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from communications import optout


@csrf_exempt  # authenticated by the signed token (RFC 8058 clients send no CSRF token)
@login_not_required
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def opt_out(request, token):
    try:
        message = optout.message_for(token)
    except optout.LinkExpired as expired:
        return render(
            request,
            "communications/optout_expired.html",
            {"company": expired.message.company if expired.message else None},
            status=410,
        )
    if message is None:
        return render(request, "communications/optout_invalid.html", status=400)
    context = {"company": message.company, "address": message.to}
    if request.method != "POST":
        return render(request, "communications/optout_confirm.html", context)
    optout.record_email_opt_out(message=message, source=optout.LINK_SOURCE)
    return render(request, "communications/optout_done.html", context)
