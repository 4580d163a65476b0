"""Contact preferences: seed 001's Customer Card > Info > Reminders, the
account page's "Contact preferences (Reminders)" section.

What a debtor told us about being contacted, and what forbids contacting
them about an account, each with when it was recorded and where it came
from (a phone call, a letter...):

* per email address and phone number, per channel (email; SMS and voice):
  consent and opt-out (``accounts.DebtorEmail`` / ``DebtorPhone``);
* per debtor: do not contact at all, and the hours they prefer
  (``ContactPreference``; a debtor has no row until something is set);
* per account: legal stops (a written cease-communication notice, an
  attorney, a pending dispute, death, bankruptcy) and the telephone
  conversations collectors record (Regulation F, 12 CFR
  1006.14(b)(2)(ii): no call about the debt in the 7 days after one).

The reads the section needs and the writes are both here (a read is
``*_of``; a write is keyword-only and takes the ``actor``). Every write is
one transaction that locks what it changes, compares it with what was asked
and changes and audits only the difference: a page left open in another tab
or a double click that submits the same value again changes nothing and
writes no second audit event. A write checks its permission and that the
account is one the actor may see, and that the row it changes belongs to
that account, whatever the caller did before.

Nothing here touches messages already queued or held: the send-time gate
(``communications.gate``) reads these rows for every message it is about to
send, so a change holds from the next send on without a second copy of the
rules here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account, ContactPoint, DebtorEmail, DebtorPhone
from accounts.selectors import accounts_visible_to, contact_points_of
from bulkops.services import audited_update, record_audit_event
from communications.models import (
    LEGAL_FROM,
    LEGAL_TO,
    Channel,
    ContactPreference,
    Conversation,
    LegalStop,
)
from communications.selectors import recipient_as_seen

CHANGE_PERMISSION = "communications.change_contact_preferences"
UNMASKED_PERMISSION = "accounts.view_unmasked_data"

# The kinds of contact point, their model and the channels each carries.
POINT_KINDS: dict[str, tuple[type[ContactPoint], tuple[str, ...]]] = {
    "email": (DebtorEmail, (Channel.EMAIL,)),
    "phone": (DebtorPhone, (Channel.SMS, Channel.VOICE)),
}


LATEST_CONVERSATIONS = 5
ENDED_STOPS = 20
SOURCE_MAX = 100  # the models' *_source columns


# --- rules the forms show and the writes enforce -----------------------------------------


def hours_problem(preferred_from: dt.time | None, preferred_to: dt.time | None):
    """Why these preferred hours cannot be kept, as (field, message), or
    None. Both or neither (neither: no preference); from before to; both
    inside the legal window, since the gate never sends outside it anyway
    and hours partly outside it would promise the debtor something false."""
    if preferred_from is None and preferred_to is None:
        return None
    if preferred_from is None:
        return "preferred_from", "Give the time the preferred hours start, or clear both."
    if preferred_to is None:
        return "preferred_to", "Give the time the preferred hours end, or clear both."
    window = f"{LEGAL_FROM:%H:%M} and {LEGAL_TO:%H:%M}"
    if not LEGAL_FROM <= preferred_from <= LEGAL_TO:
        return "preferred_from", f"Preferred hours lie between {window}, the legal window."
    if not LEGAL_FROM <= preferred_to <= LEGAL_TO:
        return "preferred_to", f"Preferred hours lie between {window}, the legal window."
    if preferred_from >= preferred_to:
        return "preferred_to", "The preferred hours end after they start."
    return None


def since_problem(since: dt.date) -> str | None:
    """A legal stop starts on a day that has come: a notice is recorded
    when it arrives, not before."""
    if since > timezone.localdate():
        return "A stop cannot start in the future: give the day the notice came."
    return None


def conversation_time_problem(at: dt.datetime) -> str | None:
    """A conversation is recorded after it happened; one dated ahead would
    hold calls back for longer than the rule asks."""
    if at > timezone.now():
        return "A conversation cannot be in the future."
    return None


# --- reads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRow:
    """One channel of one contact point, as the section shows it."""

    kind: str  # "email" or "phone" (POINT_KINDS)
    point_id: int
    channel: str
    shown: str  # the address or number, masked unless the user may see it
    point_label: str  # "Email", "Mobile", ... and whether it is the primary one
    consent: bool
    consent_at: dt.datetime | None
    consent_source: str
    opted_out: bool
    opted_out_at: dt.datetime | None
    opt_out_source: str

    @property
    def key(self) -> str:
        """Unique on the page: the forms' ids and the tests find the row by it."""
        return f"{self.kind}-{self.point_id}-{self.channel}"

    @property
    def channel_label(self) -> str:
        return Channel(self.channel).label


@dataclass(frozen=True)
class Preferences:
    """Everything the section shows of one account and its debtor."""

    channels: list[ChannelRow]
    preference: ContactPreference  # unsaved, all defaults, when the debtor has none
    active_stops: list[LegalStop]
    ended_stops: list[LegalStop]
    conversations: list[Conversation]


def account_for_preferences(user, pk) -> Account | None:
    """The account ``pk`` if ``user`` may see it (the accounts app's scope),
    with its debtor; None otherwise, so that another company's account is
    as unknown as a missing one."""
    return accounts_visible_to(user).select_related("debtor").filter(pk=pk).first()


def channels_of(kind: str) -> tuple[str, ...]:
    """The channels a kind of contact point carries (none for an unknown kind)."""
    return POINT_KINDS[kind][1] if kind in POINT_KINDS else ()


def contact_point_of(account: Account, kind: str, pk) -> ContactPoint | None:
    """The email address or phone number ``pk`` if it is the account's
    debtor's; None for another debtor's (another company's, say)."""
    if kind not in POINT_KINDS:
        return None
    model = POINT_KINDS[kind][0]
    return model.objects.filter(pk=pk, debtor_id=account.debtor_id).first()


def legal_stop_of(account: Account, pk) -> LegalStop | None:
    """The legal stop ``pk`` if it is the account's; None for any other."""
    return LegalStop.objects.filter(pk=pk, account_id=account.pk).first()


def point_as_seen(user, point: ContactPoint) -> str:
    """The address or number as the user may see it (masked as everywhere)."""
    value = point.address if isinstance(point, DebtorEmail) else point.number
    return recipient_as_seen(value, user.has_perm(UNMASKED_PERMISSION))


def _channel_row(user, kind: str, point: ContactPoint, channel: str) -> ChannelRow:
    fields = channel_fields(channel)
    label = "Email" if kind == "email" else point.get_phone_type_display()
    return ChannelRow(
        kind=kind,
        point_id=point.pk,
        channel=channel,
        shown=point_as_seen(user, point),
        point_label=f"{label}, primary" if point.is_primary else label,
        **{name: getattr(point, column) for name, column in fields.items()},
    )


def preferences_of(user, account: Account) -> Preferences:
    """The section's content for an account ``user`` may see: six small
    queries whatever the account's history (the latest conversations and
    ended stops only)."""
    rows = []
    emails, phones = contact_points_of(account)  # read once for the whole page
    for kind, (model, channels) in POINT_KINDS.items():
        points = emails if model is DebtorEmail else phones
        rows.extend(
            _channel_row(user, kind, point, channel) for point in points for channel in channels
        )
    preference = (
        ContactPreference.objects.select_related("updated_by").filter(pk=account.debtor_id).first()
    ) or ContactPreference(debtor_id=account.debtor_id)
    # The active stops (at most one of each kind) first, then the latest
    # ended ones: one query, bounded whatever the account's history.
    stops = list(
        LegalStop.objects.filter(account_id=account.pk)
        .select_related("created_by", "ended_by")
        .order_by(F("ended_at").desc(nulls_first=True), "-pk")[: len(LegalStop.Kind) + ENDED_STOPS]
    )
    return Preferences(
        channels=rows,
        preference=preference,
        active_stops=sorted(
            (s for s in stops if s.ended_at is None), key=lambda s: (s.since, s.pk)
        ),
        ended_stops=[s for s in stops if s.ended_at is not None][:ENDED_STOPS],
        conversations=list(
            Conversation.objects.filter(account_id=account.pk)
            .select_related("recorded_by")
            .order_by("-at", "-pk")[:LATEST_CONVERSATIONS]
        ),
    )


def channel_fields(channel: str) -> dict[str, str]:
    """The columns of a contact point holding one channel's answers, by the
    names ``ChannelRow`` gives them (``sms_opted_out``, ``sms_opt_out_source``...)."""
    return {
        "consent": f"{channel}_consent",
        "consent_at": f"{channel}_consent_at",
        "consent_source": f"{channel}_consent_source",
        "opted_out": f"{channel}_opted_out",
        "opted_out_at": f"{channel}_opted_out_at",
        "opt_out_source": f"{channel}_opt_out_source",
    }


# --- writes --------------------------------------------------------------------------------


def _require(actor, account: Account) -> None:
    """The actor may change contact preferences and see the account."""
    if not actor.has_perm(CHANGE_PERMISSION):
        raise PermissionDenied("You may not change contact preferences.")
    if not accounts_visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("That account is not available to you.")


def _source(source: str, *, required: bool) -> str:
    source = (source or "").strip()
    if required and not source:
        raise ValidationError({"source": "Say where this came from: a phone call, a letter, ..."})
    if len(source) > SOURCE_MAX:
        raise ValidationError({"source": f"At most {SOURCE_MAX} characters."})
    return source


@transaction.atomic
def set_channel(
    *,
    actor,
    account: Account,
    point: ContactPoint,
    channel: str,
    consent: bool,
    opted_out: bool,
    source: str,
) -> dict[str, tuple]:
    """Record the debtor's consent to, and opt-out of, one channel of one of
    their addresses or numbers, as ``source`` says. An answer that changes
    gets the time now and ``source`` as its date and source (they describe
    the current answer, yes or no; the audit keeps the earlier ones); an
    answer already as asked is left alone, date and source included.
    Returns the changes, empty when there were none (then nothing is
    written, not even an audit event)."""
    _require(actor, account)
    kind = "email" if isinstance(point, DebtorEmail) else "phone"
    if channel not in channels_of(kind):
        raise ValueError(f"A {kind} has no {channel} channel.")
    model = type(point)
    locked = model.objects.select_for_update().filter(pk=point.pk, debtor_id=account.debtor_id)
    point = locked.first()
    if point is None:
        raise PermissionDenied("That address or number is not this account's debtor's.")
    source = _source(source, required=True)
    fields, now = channel_fields(channel), timezone.now()
    new: dict[str, object] = {}
    if getattr(point, fields["consent"]) != consent:
        new.update(
            {
                fields["consent"]: consent,
                fields["consent_at"]: now,
                fields["consent_source"]: source,
            }
        )
    if getattr(point, fields["opted_out"]) != opted_out:
        new.update(
            {
                fields["opted_out"]: opted_out,
                fields["opted_out_at"]: now,
                fields["opt_out_source"]: source,
            }
        )
    if not new:
        return {}
    changes = {column: (getattr(point, column), value) for column, value in new.items()}
    model.objects.filter(pk=point.pk).update(**new)
    record_audit_event(
        actor=actor, action="contact_point.channel_changed", obj=point, changes=changes
    )
    return changes


def _locked_preference(debtor_id: int) -> ContactPreference:
    """The debtor's preference row, locked; made (all defaults, which mean
    "no preference", so nothing to audit) when it is missing.
    ``get_or_create`` survives two requests making it at once."""
    ContactPreference.objects.get_or_create(debtor_id=debtor_id)
    return ContactPreference.objects.select_for_update().get(pk=debtor_id)


def _save_preference(*, actor, preference: ContactPreference, new: dict, action: str) -> dict:
    changes = {
        name: (getattr(preference, name), value)
        for name, value in new.items()
        if getattr(preference, name) != value
    }
    if not changes:
        return {}
    ContactPreference.objects.filter(pk=preference.pk).update(
        **{name: after for name, (_, after) in changes.items()},
        updated_at=timezone.now(),
        updated_by=actor,
    )
    record_audit_event(
        actor=actor,
        action=action,
        obj=preference,
        changes={name: tuple(map(_audited, change)) for name, change in changes.items()},
    )
    return changes


def _audited(value):
    """A value as the audit records it: the audit knows dates and datetimes,
    not times of day, which it gets as "HH:MM"."""
    return value.isoformat(timespec="minutes") if isinstance(value, dt.time) else value


@transaction.atomic
def set_do_not_contact(
    *, actor, account: Account, do_not_contact: bool, source: str = ""
) -> dict[str, tuple]:
    """Set (``source`` required: who asked, how) or clear the debtor's "do
    not contact", which holds for every channel and every account of theirs.
    Setting records when and the source; clearing forgets both (the audit
    keeps them). Already so: nothing changes. Returns the changes."""
    _require(actor, account)
    preference = _locked_preference(account.debtor_id)
    if preference.do_not_contact == do_not_contact:
        return {}
    if do_not_contact:
        new = {
            "do_not_contact": True,
            "do_not_contact_at": timezone.now(),
            "do_not_contact_source": _source(source, required=True),
        }
    else:
        new = {"do_not_contact": False, "do_not_contact_at": None, "do_not_contact_source": ""}
    return _save_preference(
        actor=actor,
        preference=preference,
        new=new,
        action="contact_preference.do_not_contact_changed",
    )


@transaction.atomic
def set_preferred_hours(
    *, actor, account: Account, preferred_from: dt.time | None, preferred_to: dt.time | None
) -> dict[str, tuple]:
    """Set the hours the debtor prefers to be contacted in (their local
    time, inside the legal window), or clear them (both None). Returns the
    changes; hours already so change nothing."""
    _require(actor, account)
    problem = hours_problem(preferred_from, preferred_to)
    if problem is not None:
        raise ValidationError({problem[0]: problem[1]})
    preference = _locked_preference(account.debtor_id)
    return _save_preference(
        actor=actor,
        preference=preference,
        new={"preferred_from": preferred_from, "preferred_to": preferred_to},
        action="contact_preference.hours_changed",
    )


def _active_stop(account: Account, kind: str) -> LegalStop | None:
    """The account's active stop of ``kind``, locked, if there is one. Two
    requests adding the first such stop at once both find none: the partial
    unique index then refuses the second (``add_legal_stop``)."""
    return (
        LegalStop.objects.select_for_update()
        .filter(account_id=account.pk, kind=kind, ended_at__isnull=True)
        .first()
    )


def _already_active(stop: LegalStop) -> ValidationError:
    return ValidationError(
        {
            "kind": f"This account already has an active “{stop.get_kind_display()}” stop "
            f"(since {stop.since:%Y-%m-%d}): end it before recording another."
        }
    )


@transaction.atomic
def add_legal_stop(
    *, actor, account: Account, kind: str, since: dt.date, source: str, note: str = ""
) -> tuple[LegalStop, bool]:
    """Record a legal stop on the account from ``since``. An account has at
    most one active stop of each kind (``legal_stop_once``): the same stop
    submitted again (a double click) is the one already there, unchanged
    (``created`` False); a different one of that kind is refused with a
    ValidationError, and so is the loser of two requests adding one at
    the same moment. Returns (stop, created)."""
    _require(actor, account)
    if kind not in LegalStop.Kind.values:
        raise ValidationError({"kind": "Choose a kind of stop."})
    problem = since_problem(since)
    if problem:
        raise ValidationError({"since": problem})
    source, note = _source(source, required=True), (note or "").strip()
    active = _active_stop(account, kind)
    if active is not None:
        if (active.since, active.source, active.note) == (since, source, note):
            return active, False
        raise _already_active(active)
    try:
        with transaction.atomic():  # a savepoint: the outer transaction goes on
            stop = LegalStop.objects.create(
                account=account, kind=kind, since=since, source=source, note=note, created_by=actor
            )
    except IntegrityError:
        raise _already_active(
            LegalStop.objects.get(account_id=account.pk, kind=kind, ended_at__isnull=True)
        ) from None
    record_audit_event(
        actor=actor,
        action="legal_stop.added",
        obj=stop,
        changes={
            "kind": (None, kind),
            "since": (None, since),
            "source": (None, source),
            "note": (None, note),
        },
    )
    return stop, True


@transaction.atomic
def end_legal_stop(*, actor, account: Account, stop: LegalStop) -> bool:
    """End an active stop of the account now. A stop already ended (a
    second click) stays as it was: returns False."""
    _require(actor, account)
    locked = LegalStop.objects.select_for_update().filter(pk=stop.pk, account_id=account.pk)
    if not locked.exists():
        raise PermissionDenied("That stop is not this account's.")
    return bool(
        audited_update(
            actor=actor,
            action="legal_stop.ended",
            queryset=locked.filter(ended_at__isnull=True),
            field="ended_at",
            new_value=timezone.now(),
            also={"ended_by": actor},
        )
    )


@transaction.atomic
def record_conversation(
    *, actor, account: Account, at: dt.datetime, note: str = ""
) -> tuple[Conversation, bool]:
    """Record a telephone conversation with the debtor about the account,
    at ``at``. The same conversation (moment and note) recorded again is
    the one already there (``created`` False): the form's time is filled in
    when the page is drawn, so a double click sends the same one twice. The
    account row is locked meanwhile so two such requests cannot both miss
    each other. Returns (conversation, created)."""
    _require(actor, account)
    problem = conversation_time_problem(at)
    if problem:
        raise ValidationError({"at": problem})
    note = (note or "").strip()
    list(Account.objects.select_for_update().filter(pk=account.pk).values_list("pk"))
    same = Conversation.objects.filter(account_id=account.pk, at=at, note=note).first()
    if same is not None:
        return same, False
    conversation = Conversation.objects.create(account=account, at=at, note=note, recorded_by=actor)
    record_audit_event(
        actor=actor,
        action="conversation.recorded",
        obj=conversation,
        changes={"at": (None, at), "note": (None, note)},
    )
    return conversation, True
