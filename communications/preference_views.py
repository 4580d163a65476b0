"""The account page's "Contact preferences (Reminders)" section: what it
shows (``section_context``, registered in ``apps.py``), a page of its own,
and one POST view per change. Thin: ``communications.preferences`` reads
and writes, the forms check what was typed.

Every change is a plain form POST that works without JavaScript: done, it
redirects back to the account page with a message; refused, it draws the
section on a page of its own with that form open and its errors. The forms
are htmx forms too (``hx-post``, the section as target): the answer is
then the section alone, swapped in place with the outcome or the errors,
and the notice or the error summary takes the focus (``autofocus``, which
htmx honours after a swap) so that a screen reader announces it.

Each change needs ``communications.change_contact_preferences`` (403
otherwise). The account must be one the user may see and the address,
number or stop must be that account's: anything else is a 404 and changes
nothing."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from communications import preferences
from communications.models import Channel
from communications.preference_forms import (
    ChannelForm,
    ConversationForm,
    DoNotContactForm,
    LegalStopForm,
    PreferredHoursForm,
    yes_no,
)

VIEW = "accounts.view_account"  # the account page's own permission
CHANGE = preferences.CHANGE_PERMISSION
SECTION_ID = "contact-preferences"
SECTION_TEMPLATE = "communications/preferences/_section.html"
PAGE_TEMPLATE = "communications/preferences/page.html"


def _auto_id(key: str) -> str:
    """Ids unique on the page for the form ``key`` (many forms, same fields)."""
    return f"pref-{key}-%s"


def section_context(
    user, account, *, bound: dict | None = None, notice: str = "", forms: bool = True
) -> dict:
    """The section's context for ``account`` (one ``user`` may see): what it
    shows and, for users who may change it, a form per change, unbound with
    the current values or, under its key in ``bound``, the one just refused.
    Without ``forms`` (the account page) such users get the link that
    draws them instead."""
    prefs = preferences.preferences_of(user, account)
    can_change = user.has_perm(CHANGE)
    bound = bound or {}
    context = {
        "prefs": prefs,
        "preference": prefs.preference,
        "show_forms": can_change and forms,
        "edit_url": reverse("preferences:page", args=[account.pk])
        if can_change and not forms
        else "",
        "notice": notice,
        "section_id": SECTION_ID,
        "ended_stops_limit": preferences.ENDED_STOPS,
    }
    if not context["show_forms"]:
        context["channel_rows"] = [(row, None) for row in prefs.channels]
        return context

    def form(key, form_class, initial=None):
        if key in bound:
            return bound[key]
        return form_class(initial=initial, auto_id=_auto_id(key))

    preference = prefs.preference
    context.update(
        channel_rows=[
            (
                row,
                form(
                    row.key,
                    ChannelForm,
                    {"consent": yes_no(row.consent), "opted_out": yes_no(row.opted_out)},
                ),
            )
            for row in prefs.channels
        ],
        do_not_contact_form=form(
            "dnc", DoNotContactForm, {"do_not_contact": yes_no(not preference.do_not_contact)}
        ),
        hours_form=form(
            "hours",
            PreferredHoursForm,
            {"preferred_from": preference.preferred_from, "preferred_to": preference.preferred_to},
        ),
        stop_form=form("stop", LegalStopForm),
        conversation_form=form("conversation", ConversationForm),
    )
    return context


def account_page_section_context(user, account) -> dict:
    """The section as the account page draws it: no forms until asked for."""
    return section_context(user, account, forms=False)


def _account(request, pk):
    account = preferences.account_for_preferences(request.user, pk)
    if account is None:
        raise Http404("No such account.")
    return account


def _htmx(request) -> bool:
    """Whether the section's own htmx form asked (it then gets the section alone)."""
    return bool(request.htmx) and request.htmx.target == SECTION_ID


def _outcome(request, account, message: str, *, changed: bool):
    """The answer to a change that went through (or found nothing to do)."""
    if _htmx(request):
        context = section_context(request.user, account, notice=message)
        return render(request, SECTION_TEMPLATE, {"account": account, **context})
    messages.add_message(request, messages.SUCCESS if changed else messages.INFO, message)
    return redirect(reverse("accounts:detail", args=[account.pk]) + f"#{SECTION_ID}")


def _refused(request, account, key: str, form):
    """The section again, the refused form open with its errors; nothing changed."""
    context = {"account": account, **section_context(request.user, account, bound={key: form})}
    return render(request, SECTION_TEMPLATE if _htmx(request) else PAGE_TEMPLATE, context)


def change_view(view):
    """A change: POST only, the account page's permission and the right to
    change contact preferences (403 without)."""
    return require_POST(permission_required([VIEW, CHANGE], raise_exception=True)(view))


@require_GET
@permission_required(VIEW, raise_exception=True)
def preferences_page(request, pk):
    """The section with its forms on a page of its own (where "Change contact
    preferences" leads, and a refused change lands, without JavaScript), or
    alone for the section's htmx link, swapped in place with its heading
    focused."""
    account = _account(request, pk)
    context = section_context(request.user, account)
    if _htmx(request):
        return render(request, SECTION_TEMPLATE, {"account": account, **context, "opened": True})
    return render(request, PAGE_TEMPLATE, {"account": account, **context})


@change_view
def change_channel(request, pk, kind, point, channel):
    """Consent and opt-out of one channel of one address or number."""
    account = _account(request, pk)
    target = preferences.contact_point_of(account, kind, point)
    if target is None or channel not in preferences.channels_of(kind):
        raise Http404("No such address or number.")
    key = f"{kind}-{target.pk}-{channel}"
    form = ChannelForm(request.POST, auto_id=_auto_id(key))
    if form.is_valid():
        data = form.cleaned_data
        try:
            changes = preferences.set_channel(
                actor=request.user,
                account=account,
                point=target,
                channel=channel,
                consent=data["consent"],
                opted_out=data["opted_out"],
                source=data["source"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            label = f"{Channel(channel).label} at {preferences.point_as_seen(request.user, target)}"
            answers = f"consent {yes_no(data['consent'])}, opted out {yes_no(data['opted_out'])}"
            message = (
                f"{label} saved: {answers}."
                if changes
                else f"{label} already had {answers}: nothing changed."
            )
            return _outcome(request, account, message, changed=bool(changes))
    return _refused(request, account, key, form)


@change_view
def change_do_not_contact(request, pk):
    account = _account(request, pk)
    form = DoNotContactForm(request.POST, auto_id=_auto_id("dnc"))
    if form.is_valid():
        wanted = form.cleaned_data["do_not_contact"]
        try:
            changes = preferences.set_do_not_contact(
                actor=request.user,
                account=account,
                do_not_contact=wanted,
                source=form.cleaned_data["source"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            state = "set" if wanted else "cleared"
            message = (
                f"Do not contact {state}."
                if changes
                else f"Do not contact was already {state}: nothing changed."
            )
            return _outcome(request, account, message, changed=bool(changes))
    return _refused(request, account, "dnc", form)


@change_view
def change_hours(request, pk):
    account = _account(request, pk)
    form = PreferredHoursForm(request.POST, auto_id=_auto_id("hours"))
    if form.is_valid():
        start, end = form.cleaned_data["preferred_from"], form.cleaned_data["preferred_to"]
        try:
            changes = preferences.set_preferred_hours(
                actor=request.user, account=account, preferred_from=start, preferred_to=end
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            hours = f"{start:%H:%M}–{end:%H:%M}" if start else "none"
            message = (
                f"Preferred hours: {hours}."
                if changes
                else f"Preferred hours were already {hours}: nothing changed."
            )
            return _outcome(request, account, message, changed=bool(changes))
    return _refused(request, account, "hours", form)


@change_view
def add_stop(request, pk):
    account = _account(request, pk)
    form = LegalStopForm(request.POST, auto_id=_auto_id("stop"))
    if form.is_valid():
        try:
            stop, created = preferences.add_legal_stop(
                actor=request.user, account=account, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            label = f"“{stop.get_kind_display()}” since {stop.since:%Y-%m-%d}"
            message = (
                f"Legal stop {label} recorded."
                if created
                else f"Legal stop {label} was already recorded: nothing changed."
            )
            return _outcome(request, account, message, changed=created)
    return _refused(request, account, "stop", form)


@change_view
def end_stop(request, pk, stop):
    account = _account(request, pk)
    target = preferences.legal_stop_of(account, stop)
    if target is None:
        raise Http404("No such legal stop.")
    ended = preferences.end_legal_stop(actor=request.user, account=account, stop=target)
    label = f"Legal stop “{target.get_kind_display()}”"
    message = f"{label} ended." if ended else f"{label} had already ended: nothing changed."
    return _outcome(request, account, message, changed=ended)


@change_view
def record_conversation(request, pk):
    account = _account(request, pk)
    form = ConversationForm(request.POST, auto_id=_auto_id("conversation"))
    if form.is_valid():
        try:
            conversation, created = preferences.record_conversation(
                actor=request.user, account=account, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            label = f"Conversation of {_local(conversation.at)}"
            message = (
                f"{label} recorded."
                if created
                else f"{label} was already recorded: nothing changed."
            )
            return _outcome(request, account, message, changed=created)
    return _refused(request, account, "conversation", form)


def _local(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"
