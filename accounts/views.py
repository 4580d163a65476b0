"""Views of the accounts app: thin. Parse, check permission, call a selector
or service, render. The grid renders as a full page or, for htmx requests,
as the ``#grid`` fragment only."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import details, diary, layout, selectors, services, widgets
from accounts.filters import AccountFilter, filter_params, with_what_contacts
from accounts.forms import ColumnsForm, SavedListForm
from accounts.grid import GridState, build_grid
from accounts.models import SavedList
from accounts.sections import actions_for as page_actions_for
from accounts.sections import sections_for
from bulkops.selection import SelectionError, current_selection, store_selection


def _render_grid(request, querydict: QueryDict, *, partial: bool, notices=()):
    selection, dropped = current_selection(request, "accounts", querydict)
    grid = build_grid(request.user, querydict, selection=selection)
    grid.notices = [*notices, *([dropped] if dropped else []), *grid.notices]
    context = {"grid": grid, "selection_url": reverse("accounts:selection")}
    if partial:
        return render(request, "accounts/_grid.html", context)
    context.update(
        filterset=grid.filterset,
        columns_form=ColumnsForm(initial={"columns": grid.columns}),
        saved_lists=selectors.saved_lists_visible_to(request.user),
    )
    return render(request, "accounts/grid.html", context)


@require_GET
@permission_required("accounts.view_account", raise_exception=True)
def grid(request):
    partial = bool(request.htmx) and request.htmx.target == "grid"
    return _render_grid(request, request.GET, partial=partial)


@require_POST
@permission_required("accounts.view_account", raise_exception=True)
def selection_update(request):
    """Change the selection: toggle one row, select all matching, clear, or
    keep only the rows picked one by one ("With Selected" on a saved list).
    ``state`` carries the grid's query string so the answer matches the page
    the user is looking at."""
    state = QueryDict(request.POST.get("state", ""))
    selection, _ = current_selection(request, "accounts", state)
    op = request.POST.get("op")
    notices = []
    try:
        if op == "toggle":
            raw_id = request.POST.get("id", "")
            if not (raw_id.isascii() and raw_id.isdigit() and 0 < int(raw_id) < 2**63):
                raise SelectionError("That is not an account.")
            account_id = int(raw_id)
            checked = request.POST.get("checked") == "1"
            # A picked row must be one the grid shows: visible to the user
            # and matching the filters the selection was made under.
            picking = checked and not selection.all_matching
            if picking and not selection.matching(request.user).filter(pk=account_id).exists():
                raise SelectionError("That account is not available to you.")
            selection = selection.toggle(account_id, checked)
        elif op == "all":
            selection = selection.select_all()
        elif op == "none":
            selection = selection.clear()
        elif op == "picked":
            # A saved list's "With Selected": the rows ticked one by one stay
            # ticked. After "With List" (every matching row: no single picks
            # are kept) it starts again from none, to tick rows.
            if selection.all_matching:
                selection = selection.clear()
        else:
            raise SelectionError("Unknown selection change.")
    except SelectionError as exc:
        notices.append(str(exc))
    store_selection(request, selection)
    if op == "toggle" and not notices:
        grid_state = GridState.for_selection_bar(request.user, state, selection)
        return render(request, "accounts/_selection_bar.html", {"grid": grid_state})
    response = _render_grid(request, state, partial=True, notices=notices)
    response["HX-Retarget"] = "#grid"
    response["HX-Reswap"] = "innerHTML"
    return response


@require_POST
@permission_required("accounts.view_account", raise_exception=True)
def columns_update(request):
    form = ColumnsForm(request.POST)
    back = reverse("accounts:grid")
    query = request.POST.get("state", "")
    if form.is_valid():
        services.save_grid_columns(user=request.user, columns=form.cleaned_data["columns"])
        messages.success(request, "Columns saved.")
    else:
        messages.error(request, "Choose at least one known column.")
    return redirect(f"{back}?{query}" if query else back)


# --- saved lists ------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required("accounts.view_account", raise_exception=True)
def list_create(request):
    return _list_form(request, saved_list=None)


@require_http_methods(["GET", "POST"])
@permission_required("accounts.view_account", raise_exception=True)
def list_edit(request, pk):
    saved_list = get_object_or_404(selectors.saved_lists_visible_to(request.user), pk=pk)
    if saved_list.owner_id != request.user.pk:
        raise PermissionDenied("Only the owner can edit this list.")
    return _list_form(request, saved_list=saved_list)


def _list_form(request, *, saved_list):
    data = request.POST if request.method == "POST" else None
    initial_filters = QueryDict(saved_list.filter_query) if saved_list else QueryDict()
    form = SavedListForm(data, user=request.user, saved_list=saved_list)
    filterset = AccountFilter.for_user(
        request.user, request.POST if data is not None else initial_filters
    )
    # A filter the builder cannot use (one saved before it had bounds, say)
    # is shown with the reason it was ignored; saving waits until it is fixed.
    problems = filterset.problems
    if data is not None and form.is_valid():
        if problems:
            for problem in problems:
                form.add_error(None, problem)
        else:
            query = QueryDict(mutable=True)
            for key, value in filter_params(request.POST):
                query.appendlist(key, value)
            try:
                saved = services.save_list(
                    user=request.user,
                    saved_list=saved_list,
                    filter_query=query.urlencode(),
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"List “{saved.name}” saved.")
                return redirect(saved_list_url(saved, request.user))
    what_contacts = form["what_contacts"].value()
    shown, available = form.field_lists()
    return render(
        request,
        "accounts/saved_list_form.html",
        {
            "form": form,
            "filterset": filterset,
            "count": _counted(request.user, filterset.data, what_contacts).qs.count(),
            "problems": problems if data is None else [],
            "saved_list": saved_list,
            "shown_fields": shown,
            "available_fields": available,
        },
    )


def _counted(user, data, what_contacts) -> AccountFilter:
    """The builder's filters with its What Contacts (as its owner would
    open the list)."""
    return AccountFilter.for_user(user, with_what_contacts(data, what_contacts, user))


@require_GET
@permission_required("accounts.view_account", raise_exception=True)
def list_count(request):
    """The list builder's live "N accounts found": its filters and its What
    Contacts."""
    what_contacts = request.GET.get("what_contacts", SavedList.WhatContacts.ALL)
    filterset = _counted(request.user, request.GET, what_contacts)
    problems = filterset.problems
    clash = SavedList.what_contacts_problem(what_contacts, request.GET.urlencode())
    if clash:
        problems.append(clash)
    return render(
        request,
        "accounts/_list_count.html",
        {"count": filterset.qs.count(), "problems": problems},
    )


def saved_list_url(saved_list, user) -> str:
    """The grid showing the list to ``user``: its filters, its What
    Contacts as the Assigned To filter (``user``'s accounts for "My
    Accounts"), its default sort; ``list`` names it (its columns and bar)."""
    query = with_what_contacts(QueryDict(saved_list.filter_query), saved_list.what_contacts, user)
    if saved_list.default_sort:
        query["sort"] = saved_list.default_sort
    query["list"] = str(saved_list.pk)
    return f"{reverse('accounts:grid')}?{query.urlencode()}"


@require_GET
@permission_required("accounts.view_account", raise_exception=True)
def list_open(request, pk):
    saved_list = get_object_or_404(selectors.saved_lists_visible_to(request.user), pk=pk)
    return redirect(saved_list_url(saved_list, request.user))


@require_POST
@permission_required("accounts.view_account", raise_exception=True)
def list_delete(request, pk):
    saved_list = get_object_or_404(selectors.saved_lists_visible_to(request.user), pk=pk)
    if saved_list.owner_id != request.user.pk:
        raise PermissionDenied("Only the owner can delete this list.")
    name = saved_list.name
    services.delete_list(user=request.user, saved_list=saved_list)
    messages.success(request, f"List “{name}” deleted.")
    return redirect("accounts:grid")


# --- the account page ---------------------------------------------------------------


TABS = (
    ("details", "Account Details"),
    ("diary", "Diary"),
    ("files", "Files"),
    ("journal", "Journal"),
)


@require_GET
@permission_required("accounts.view_account", raise_exception=True)
def account_detail(request, pk):
    account = selectors.account_for_page(request.user, pk)
    if account is None:
        raise Http404("No such account.")
    tab = request.GET.get("tab", "details")
    if tab not in dict(TABS):
        tab = "details"
    context = selectors.account_page_context(request.user, account)
    context["tabs"], context["tab"] = TABS, tab
    actions = page_actions_for(request.user)
    context["page_buttons"] = [
        (action.label, reverse(action.url_name, args=[account.pk]))
        for action in actions
        if action.as_button
    ]
    context["page_actions"] = [
        (action.label, reverse(action.url_name, args=[account.pk]))
        for action in actions
        if not action.as_button
    ]
    if tab == "details":
        context.update(_details_context(request, account))
    elif tab == "diary":
        context.update(_diary_context(request, account))
    else:
        context["sections"] = [
            _Drawn(
                section.template,
                section.context(request.user, account, request.GET)
                if section.takes_params
                else section.context(request.user, account),
            )
            for section in sections_for(request.user, tab)
        ]
    return render(request, "accounts/detail.html", context)


@dataclass(frozen=True)
class _Drawn:
    """A widget or section to draw: its template and context
    (``{% render_widget %}``)."""

    template: str
    context: dict


def _drawn(user, account, widget, custom_fields) -> _Drawn:
    if widget.section is not None:
        return _Drawn(widget.section.template, widget.section.context(user, account))
    return _Drawn(
        "accounts/widgets/_custom_widget.html",
        widgets.custom_widget(user, account, widget.field_ids, fields=custom_fields),
    )


def _details_context(request, account) -> dict:
    user = request.user
    page_layout = layout.layout_for(user)
    can_save = user.has_perm(details.CONTACTS_PERMISSION)
    custom_fields = details.custom_fields_of(user)
    return {
        "widgets": [(w, _drawn(user, account, w, custom_fields)) for w in page_layout],
        "layout_json": json.dumps([w.as_json() for w in page_layout]),
        "widths": layout.WIDTHS,
        "hidden_widgets": layout.hidden_widgets(user, page_layout),
        "custom_field_choices": custom_fields,
        "can_set_default_layout": user.has_perm(layout.DEFAULT_PERMISSION),
        "can_keep_layout": user.company_id is not None,
        "details_form": widgets.DETAILS_FORM,
        "details_fingerprint": details.fingerprint(details.current_values(account, custom_fields))
        if can_save
        else "",
    }


def _diary_context(request, account) -> dict:
    users = list(selectors.company_users(request.user, active_only=False))
    claims = diary.claim_choices(account)
    sources = diary.sources_for(request.user)
    filters = diary.parse_filters(request.GET, sources=sources, users=users, claims=claims)
    page = diary.diary_page(request.user, account, filters, request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    clear = {}
    for name, params in (
        ("date", ("date_from", "date_to")),
        ("event", ("event",)),
        ("user", ("user",)),
        ("claim", ("claim",)),
    ):
        rest = query.copy()
        for param in params:
            rest.pop(param, None)
        clear[name] = "?" + rest.urlencode()
    return {
        "diary_clear": clear,
        "diary": page,
        "diary_filters": filters,
        "diary_sources": sources,
        "diary_event_choices": [(s.key, s.label) for s in sources],
        "diary_user_choices": [(u.pk, u.get_full_name() or u.username) for u in users],
        "diary_claims": claims,
        "diary_query": query.urlencode(),
    }


# --- Edit Layout and Save ------------------------------------------------------------


def _back_to(request, default_pk):
    """Back to the account page the form came from (only ever an account's)."""
    account = selectors.account_for_page(request.user, request.POST.get("account", default_pk))
    if account is None:
        return redirect("accounts:grid")
    return redirect(reverse("accounts:detail", args=[account.pk]))


@require_POST
@permission_required("accounts.view_account", raise_exception=True)
def layout_save(request):
    try:
        checked = layout.parse_layout(request.user, request.POST.get("layout", ""))
        default = request.POST.get("company_default") == "1"
        layout.save_layout(actor=request.user, widgets=checked, company_default=default)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, "The company's default layout is saved." if default else "Layout saved."
        )
    return _back_to(request, None)


@require_POST
@permission_required("accounts.view_account", raise_exception=True)
def layout_add_widget(request):
    """Add widget > Predefined (a widget not on the page) or Custom (a label
    and custom fields), appended to the layout as it is being edited."""
    try:
        current = layout.parse_layout(request.user, request.POST.get("layout", ""))
        if request.POST.get("kind") == "custom":
            try:
                field_ids = [int(v) for v in request.POST.getlist("fields")]
            except ValueError:
                raise ValidationError("Choose the custom fields from the list.") from None
            new = {"label": request.POST.get("label", ""), "fields": field_ids, "width": 6}
        else:
            section = layout.available_widgets(request.user).get(request.POST.get("widget", ""))
            if section is None:
                raise ValidationError("Choose one of the widgets offered.")
            new = {"key": section.key, "width": section.width}
        checked = layout.parse_layout(request.user, json.dumps([*current, new]))
        layout.save_layout(actor=request.user, widgets=checked)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Widget added.")
    return _back_to(request, None)


@require_POST
@permission_required("accounts.view_account", raise_exception=True)
def layout_reset(request):
    if layout.reset_layout(actor=request.user):
        messages.success(request, "Your layout is forgotten: you see the company's default.")
    return _back_to(request, None)


@require_POST
@permission_required(details.CONTACTS_PERMISSION, raise_exception=True)
def details_save(request, pk):
    account = selectors.account_for_page(request.user, pk)
    if account is None:
        raise Http404("No such account.")
    post = request.POST

    def prefixed(prefix):
        return {k.removeprefix(prefix): v for k, v in post.items() if k.startswith(prefix)}

    address = (
        {name: post.get(name, "") for name in details.ADDRESS_FIELDS}
        if any(name in post for name in details.ADDRESS_FIELDS)
        else None
    )
    try:
        changes = details.save_details(
            actor=request.user,
            account=account,
            loaded_fingerprint=post.get("fingerprint", ""),
            address=address,
            emails=prefixed("email-"),
            phones=prefixed("phone-"),
            custom=prefixed("custom-"),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        if changes:
            messages.success(
                request, f"Saved: {len(changes)} change{'s' if len(changes) != 1 else ''}."
            )
        else:
            messages.info(request, "Nothing had changed: nothing to save.")
    return redirect(reverse("accounts:detail", args=[account.pk]))
