"""Pages of a collector's work on one account: Add Notes, Add Interaction,
Create task, the account's Tasks (Resolve, Edit), My tasks, and the
phone number's validity. Thin: each parses its form, calls ``accounts.work``
and goes back to the account page with what was done."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods

from accounts import selectors, work
from accounts.models import Task
from accounts.work_forms import (
    InteractionForm,
    NoteForm,
    PhoneValidityForm,
    ResolveTaskForm,
    TaskForm,
)
from common.forms import add_service_errors

WORK = "accounts.work_account"


def _account(request, pk):
    account = selectors.account_for_page(request.user, pk)
    if account is None:
        raise Http404("No such account.")
    return account


def _page(request, account, form, *, title, submit, testid, extra=None):
    return render(
        request,
        "accounts/work/form_page.html",
        {
            "account": account,
            "form": form,
            "title": title,
            "submit": submit,
            "testid": testid,
            **(extra or {}),
        },
    )


def _back(account, tab: str = "") -> str:
    url = reverse("accounts:detail", args=[account.pk])
    return f"{url}?tab={tab}" if tab else url


@require_http_methods(["GET", "POST"])
@permission_required(WORK, raise_exception=True)
def add_note(request, pk):
    account = _account(request, pk)
    form = NoteForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            work.add_note(
                actor=request.user,
                account=account,
                note_type=form.cleaned_data["note_type"],
                body=form.cleaned_data["body"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Note added. It is in the Diary.")
            return redirect(_back(account, "diary"))
    return _page(request, account, form, title="Add notes", submit="Add Note", testid="note-form")


@require_http_methods(["GET", "POST"])
@permission_required(WORK, raise_exception=True)
def add_interaction(request, pk):
    account = _account(request, pk)
    form = InteractionForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            work.add_interaction(actor=request.user, account=account, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Interaction recorded; the account's Last Worked is now.")
            return redirect(_back(account, "diary"))
    return _page(
        request,
        account,
        form,
        title="Add Interaction",
        submit="Submit resolution",
        testid="interaction-form",
    )


def _task_fields(form) -> dict:
    data = form.cleaned_data
    return {
        "queue": data.get("queue"),
        "assignee": data.get("assignee"),
        "group": data.get("group"),
        "due_date": data["due_date"],
        "tags": work.parse_tags(data.get("tags", "")),
        "notes": data.get("notes", ""),
    }


@require_http_methods(["GET", "POST"])
@permission_required(WORK, raise_exception=True)
def create_task(request, pk):
    account = _account(request, pk)
    form = TaskForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            work.create_task(actor=request.user, account=account, **_task_fields(form))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Task created.")
            return redirect(reverse("accounts:tasks", args=[account.pk]))
    return _page(
        request, account, form, title="Create task", submit="Create Task", testid="task-form"
    )


@require_GET
@permission_required(WORK, raise_exception=True)
def account_tasks(request, pk):
    account = _account(request, pk)
    tasks = (
        work.tasks_visible_to(request.user)
        .filter(account=account)
        .select_related("queue", "group", "assignee", "resolved_by", "created_by")
        .order_by("status", "due_date", "pk")
    )
    return render(request, "accounts/work/tasks.html", {"account": account, "tasks": tasks})


def _task(request, task_pk) -> Task:
    return get_object_or_404(
        work.tasks_visible_to(request.user).select_related("account__debtor"), pk=task_pk
    )


def _loaded_at(request) -> dt.datetime | None:
    value = request.POST.get("loaded_at", "")
    parsed = parse_datetime(value) if value else None
    if parsed is None:
        raise ValidationError("This form is out of date: reload the page and try again.")
    return parsed


@require_http_methods(["GET", "POST"])
@permission_required(WORK, raise_exception=True)
def edit_task(request, task_pk):
    task = _task(request, task_pk)
    initial = {
        "assign_to": "group" if task.group_id else "queue",
        "queue": task.queue_id,
        "assignee": task.assignee_id,
        "group": task.group_id,
        "due_date": task.due_date,
        "tags": task.tags_text,
        "notes": task.notes,
    }
    form = TaskForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            work.edit_task(
                actor=request.user, task=task, loaded_at=_loaded_at(request), **_task_fields(form)
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Task saved.")
            return redirect(reverse("accounts:tasks", args=[task.account_id]))
    return _page(
        request,
        task.account,
        form,
        title="Edit task",
        submit="Save",
        testid="task-form",
        extra={
            "loaded_at": task.updated_at.isoformat(),
            "cancel": reverse("accounts:tasks", args=[task.account_id]),
        },
    )


@require_http_methods(["GET", "POST"])
@permission_required(WORK, raise_exception=True)
def resolve_task(request, task_pk):
    task = _task(request, task_pk)
    form = ResolveTaskForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            work.resolve_task(
                actor=request.user,
                task=task,
                note=form.cleaned_data["note"],
                loaded_at=_loaded_at(request),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Task resolved.")
            return redirect(
                request.POST.get("next") == "mine"
                and reverse("accounts:my-tasks")
                or reverse("accounts:tasks", args=[task.account_id])
            )
    return _page(
        request,
        task.account,
        form,
        title="Resolve task",
        submit="Resolve",
        testid="resolve-form",
        extra={
            "loaded_at": task.updated_at.isoformat(),
            "task": task,
            "next": request.GET.get("next", request.POST.get("next", "")),
            "cancel": reverse("accounts:tasks", args=[task.account_id]),
        },
    )


@require_GET
@permission_required(WORK, raise_exception=True)
def my_tasks(request):
    return render(request, "accounts/work/my_tasks.html", work.my_tasks(request.user))


@require_http_methods(["GET", "POST"])
@permission_required(WORK, raise_exception=True)
def phone_validity(request, pk, valid: bool):
    account = _account(request, pk)
    form = PhoneValidityForm(request.POST or None, user=request.user, account=account, valid=valid)
    verb = "Validate" if valid else "Invalidate"
    if request.method == "POST" and form.is_valid():
        try:
            phone = work.set_phone_validity(
                actor=request.user,
                account=account,
                phone_id=form.cleaned_data["phone"],
                valid=valid,
                notes=form.cleaned_data["notes"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                f"Number {'validated' if valid else 'invalidated'}: {phone.get_validity_display()}.",
            )
            return redirect(_back(account))
    return _page(
        request,
        account,
        form,
        title=f"{verb} phone number",
        submit=verb,
        testid="phone-validity-form",
    )
