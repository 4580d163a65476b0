"""The Diary (seed 004, section 2): every past activity on an account, from
every app, in one timeline.

Each app registers its sources of events: a queryset of the account's rows
reduced to the same five columns (when, event, who, claim, row id). The
Diary asks for them all as ONE ``UNION ALL``, filtered (dates, events, users,
claims), ordered and paged by the database; then each source describes the
rows of the page that are its own, in one query. A page of the Diary is a
fixed number of queries however many events the account has.

The accounts app's own sources are registered here; billing and
communications register theirs in their ``AppConfig.ready``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import BigIntegerField, CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import Account, Interaction, Note, Task, User
from accounts.sections import _Registry
from bulkops.models import AuditEvent
from bulkops.selectors import with_readable_changes

# A page of the Diary: two or three screens of days; Older pages hold the rest.
PAGE_SIZE = 50
_COLUMNS = ("d_at", "d_event", "d_actor", "d_claim", "d_ref")


@dataclass(frozen=True)
class DiaryEntry:
    """What one event says: a title, a line of detail, and where it links."""

    title: str
    detail: str = ""
    url: str = ""
    link_text: str = ""
    operation_id: int | None = None
    changes: tuple = ()


@dataclass(frozen=True)
class DiarySource:
    """One kind of event: the rows of ``model`` about the account (its
    ``account_field`` is the account's id) that match ``where``, their time,
    actor and claim columns (None: the rows have none); ``describe(user,
    ids)`` says what each row of a page says, by id."""

    key: str
    label: str  # the Event filter's word
    model: type
    at: str
    describe: Callable[[object, list[int]], dict[int, DiaryEntry]]
    actor: str | None = None
    claim: str | None = None
    where: Q = field(default_factory=Q)
    account_field: str = "account_id"
    permission: str = ""
    order: int = 100

    @property
    def names_claims(self) -> bool:
        """Its rows name a claim (the Claim Reference filter keeps them)."""
        return self.claim is not None

    def rows(self, account: Account) -> QuerySet:
        queryset = self.model.objects.filter(self.where, **{self.account_field: account.pk})
        return diary_rows(queryset, at=self.at, actor=self.actor, claim=self.claim, key=self.key)


_SOURCES = _Registry("diary sources", "label")


def register_diary_source(source: DiarySource) -> DiarySource:
    return _SOURCES.register(source)


def sources_for(user) -> list[DiarySource]:
    return _SOURCES.for_user(user)


_CLAIMS: list[Callable[[Account], list[tuple[int, str]]]] = []


def register_claim_choices(choices: Callable[[Account], list[tuple[int, str]]]) -> None:
    """The app that owns claims says which an account has (the Claim
    Reference filter's options): [(id, reference)]."""
    _CLAIMS.append(choices)


def claim_choices(account: Account) -> list[tuple[int, str]]:
    return [choice for choices in _CLAIMS for choice in choices(account)]


def diary_rows(queryset: QuerySet, *, at: str, actor: str | None, claim: str | None, key: str):
    """``queryset`` as a Diary source's rows: its time, actor and claim columns
    under the Diary's names (all annotations, so every source's columns come
    in the same order in the union)."""
    # Typed: PostgreSQL makes an untyped NULL of the first arms text, which
    # then cannot meet a later arm's bigint.
    none = Cast(Value(None), output_field=BigIntegerField())
    return (
        queryset.order_by()
        .annotate(
            d_at=F(at),
            d_event=Value(key, output_field=CharField()),
            d_actor=F(actor) if actor else none,
            d_claim=F(claim) if claim else none,
            d_ref=F("pk"),
        )
        .values(*_COLUMNS)
    )


# --- the filters -------------------------------------------------------------------------


@dataclass
class DiaryFilters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    events: list[str] = field(default_factory=list)  # empty: all
    users: list[int] = field(default_factory=list)
    claims: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.date_from or self.date_to or self.events or self.users or self.claims)


def _ids(values: Iterable[str], allowed: set[int], what: str, problems: list[str]) -> list[int]:
    ids = []
    for value in values:
        try:
            pk = int(value)
        except (TypeError, ValueError):
            pk = None
        if pk not in allowed:
            problems.append(f"Unknown {what} left out of the filter.")
            continue
        ids.append(pk)
    return ids


def _date(value: str, label: str, problems: list[str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(f"{label} is not a date (YYYY-MM-DD); it was left out.")
        return None


def parse_filters(querydict, *, sources, users, claims) -> DiaryFilters:
    """The Diary's filters from the query string; unknown values are left
    out with a message, never trusted (a user id of another company is
    unknown here)."""
    problems: list[str] = []
    keys = {s.key for s in sources}
    events = [e for e in querydict.getlist("event") if e in keys]
    if len(events) != len(querydict.getlist("event")):
        problems.append("Unknown event left out of the filter.")
    filters = DiaryFilters(
        date_from=_date(querydict.get("date_from", ""), "The first day", problems),
        date_to=_date(querydict.get("date_to", ""), "The last day", problems),
        events=events,
        users=_ids(querydict.getlist("user"), {u.pk for u in users}, "user", problems),
        claims=_ids(querydict.getlist("claim"), {pk for pk, _ in claims}, "claim", problems),
        problems=problems,
    )
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        filters.date_from, filters.date_to = filters.date_to, filters.date_from
    return filters


# --- the page ----------------------------------------------------------------------------


def _filtered(queryset: QuerySet, filters: DiaryFilters, zone: ZoneInfo) -> QuerySet:
    if filters.date_from:
        start = dt.datetime.combine(filters.date_from, dt.time(), tzinfo=zone)
        queryset = queryset.filter(d_at__gte=start)
    if filters.date_to:
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        queryset = queryset.filter(d_at__lt=end)
    if filters.users:
        queryset = queryset.filter(d_actor__in=filters.users)
    if filters.claims:
        queryset = queryset.filter(d_claim__in=filters.claims)
    return queryset


@dataclass(frozen=True)
class DiaryPage:
    """Which page this is, and whether older events follow. No count: a
    count of every event would read them all for a number nobody needs."""

    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


MAX_PAGE = 1000


def _page_number(value) -> int:
    try:
        number = int(value or 1)
    except (TypeError, ValueError):
        return 1
    return min(max(number, 1), MAX_PAGE)


@dataclass
class DiaryDay:
    day: dt.date
    events: list


def diary_page(user, account: Account, filters: DiaryFilters, page_number) -> dict:
    """One page of the account's Diary, newest first, grouped by day in the
    user's zone."""
    zone = ZoneInfo(user.timezone or "UTC")
    sources = [s for s in sources_for(user) if not filters.events or s.key in filters.events]
    if filters.claims:
        # Events that name no claim are not about the claims asked for.
        sources = [s for s in sources if s.names_claims]
    number = _page_number(page_number)
    # The rows up to this page's end, plus one (is there an older page?).
    wanted = number * PAGE_SIZE + 1
    arms = [_filtered(s.rows(account), filters, zone) for s in sources]
    if not arms:
        return {"days": [], "page": None}
    if len(arms) == 1:
        union = arms[0]
    else:
        if connection.features.supports_slicing_ordering_in_compound:
            # Each arm reads only its newest rows, from its (account, time) index.
            arms = [arm.order_by("-d_at", "-d_ref")[:wanted] for arm in arms]
        union = arms[0].union(*arms[1:], all=True)
    fetched = list(union.order_by("-d_at", "-d_ref")[(number - 1) * PAGE_SIZE : wanted])
    page = DiaryPage(number=number, has_next=len(fetched) > PAGE_SIZE)
    rows = fetched[:PAGE_SIZE]
    by_source: dict[str, list[int]] = {}
    for row in rows:
        by_source.setdefault(row["d_event"], []).append(row["d_ref"])
    described = {s.key: s.describe(user, by_source[s.key]) for s in sources if s.key in by_source}
    labels = {s.key: s.label for s in sources}
    actors = dict(
        User.objects.filter(pk__in={r["d_actor"] for r in rows if r["d_actor"]}).values_list(
            "pk", "username"
        )
    )
    events = [
        {
            "at": timezone.localtime(row["d_at"], zone),
            "event": labels[row["d_event"]],
            "key": row["d_event"],
            "actor": actors.get(row["d_actor"], "system" if not row["d_actor"] else "former user"),
            "entry": described[row["d_event"]].get(row["d_ref"], DiaryEntry(title="(removed)")),
        }
        for row in rows
    ]
    days = [
        DiaryDay(day=day, events=list(group))
        for day, group in groupby(events, key=lambda e: e["at"].date())
    ]
    return {"days": days, "page": page}


# --- the accounts app's own sources ------------------------------------------------------


def _describe_audit(user, ids: list[int]) -> dict[int, DiaryEntry]:
    events = with_readable_changes(AuditEvent.objects.filter(pk__in=ids))
    return {
        e.pk: DiaryEntry(
            title=e.action.split(".", 1)[-1].replace("_", " ").capitalize(),
            operation_id=e.bulk_operation_id,
            changes=tuple(e.readable_changes),
        )
        for e in events
    }


def _describe_notes(user, ids):
    return {
        n.pk: DiaryEntry(title=str(n.note_type or "Note"), detail=n.body)
        for n in Note.objects.filter(pk__in=ids).select_related("note_type")
    }


def _describe_interactions(user, ids):
    return {
        i.pk: DiaryEntry(
            title=f"{i.get_method_display()}, {i.get_direction_display().split(' (')[0].lower()}:"
            f" {i.outcome}",
            detail=" · ".join(
                part
                for part in (f"Reason: {i.delinquency_reason}", i.additional_information)
                if part
            ),
        )
        for i in Interaction.objects.filter(pk__in=ids).select_related(
            "outcome", "delinquency_reason"
        )
    }


def _task_entry(task: Task, resolved: bool) -> DiaryEntry:
    who = str(task.queue or task.group) + (f" / {task.assignee}" if task.assignee_id else "")
    if resolved:
        return DiaryEntry(title=f"Task resolved ({who})", detail=task.resolution_note)
    tags = f" · Tags: {task.tags_text}" if task.tags else ""
    return DiaryEntry(
        title=f"Task for {who}, due {task.due_date:%Y-%m-%d}", detail=f"{task.notes}{tags}"
    )


def _describe_tasks(resolved: bool):
    def describe(user, ids):
        tasks = Task.objects.filter(pk__in=ids).select_related("queue", "group", "assignee")
        return {t.pk: _task_entry(t, resolved) for t in tasks}

    return describe


_STATUS = Q(action="account.status_changed") | Q(action__in=["account.frozen"])
_ASSIGNMENT = Q(action="account.assigned")
_PHONE = Q(action__startswith="phone.")
_FILES = Q(action__startswith="file.")
# An interaction's "account worked" is the interaction's own event.
_OTHER = ~(_STATUS | _ASSIGNMENT | _PHONE | _FILES | Q(action="account.worked"))

_ABOUT_THE_ACCOUNT = Q(object_type="accounts.account")


def _audit_source(key: str, label: str, condition: Q, order: int) -> DiarySource:
    """Audited changes of the account itself, of one kind."""
    return DiarySource(
        key=key,
        label=label,
        model=AuditEvent,
        at="occurred_at",
        actor="actor_id",
        where=_ABOUT_THE_ACCOUNT & condition,
        account_field="object_id",
        describe=_describe_audit,
        order=order,
    )


for _source in (
    DiarySource("note", "Note", Note, "created_at", _describe_notes, "author_id", order=10),
    DiarySource(
        "interaction", "Interaction", Interaction, "created_at", _describe_interactions, "user_id",
        order=11,
    ),
    DiarySource(
        "task", "Task created", Task, "created_at", _describe_tasks(resolved=False),
        "created_by_id", order=12,
    ),
    DiarySource(
        "task_resolved", "Task resolved", Task, "resolved_at", _describe_tasks(resolved=True),
        "resolved_by_id", where=Q(resolved_at__isnull=False), order=13,
    ),
    _audit_source("status", "Status change", _STATUS, 40),
    _audit_source("assignment", "Assignment", _ASSIGNMENT, 41),
    _audit_source("phone", "Phone validity", _PHONE, 42),
    _audit_source("file", "Files", _FILES, 43),
    _audit_source("account_change", "Other account change", _OTHER, 49),
):  # fmt: skip
    register_diary_source(_source)
