"""Sending messages so that none is sent twice.

Messages are sent in batches (``MESSAGE_DISPATCH_BATCH``, 50): a worker
takes up to that many due messages in one short transaction (``queued`` or
``held`` → ``sending``, after the gate and the office's rate limit, asked
once for the whole batch) that commits before any provider is called; it
sends them one by one over one connection (one SMTP connection per batch,
one Twilio client per run), each with its own answer; and it records the
answers in another transaction, set-based, at the end of the batch, or
sooner once ``RECORD_EVERY_SECONDS`` have passed since the take or the last
record (a slow provider; such a record also renews the lease of the
batch's messages still to be sent, their ``state_changed_at``). So:

* a worker that dies after the take leaves the batch's messages not yet
  recorded ``sending``, whether or not the provider had them: nobody
  knows. ``mark_lost_sendings`` (beat) makes such a message ``unknown`` for
  a person to decide; it is never sent again by itself. The price of the
  batch: a worker lost mid-batch leaves up to a batch of messages unknown
  instead of one (those it had not sent yet too), for a take and a record
  per batch instead of per message. ``MESSAGE_DISPATCH_BATCH=1`` is the
  message-at-a-time dispatch.
* an error that proves nothing was accepted (the server could not be
  reached; it refused the connection) puts the message back on hold for a
  retry; a permanent refusal fails it; any other error, whose fate cannot
  be known, makes it ``unknown``. Each message's error is its own: after
  any error the SMTP connection is closed and the next message opens a
  fresh one.
* an answer that comes after ``mark_lost_sendings`` made the message
  unknown moves it only where ``TRANSITIONS`` allow (unknown → sent); else
  it is kept as an event that changed nothing.
* an email carries the same Message-ID on every attempt.

Email goes through Django's email API, so the configured backend decides
how: an ESP through django-anymail, or SMTP. SMS and voice go through
Twilio's own client (``TWILIO_API_BASE`` points it at another server: a
loopback one in tests and in ``make run``), with a status callback when
``TWILIO_STATUS_CALLBACK_URL`` is set; without Twilio credentials SMS and
voice wait, queued."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import smtplib
import socket
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.html import escape
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from communications import gate, limiter, optout
from communications.models import Channel, Message, MessageEvent, MessageState
from communications.placeholders import OPT_OUT_LINK_MARKER

logger = logging.getLogger(__name__)

RETRY_DELAYS = (60, 300, 900, 3600)  # seconds before attempts 2, 3, 4, 5
# A batch's answers are recorded at its end, or sooner once this long has
# passed since the take or the last record (a slow provider): a record costs
# a commit (milliseconds), so it is paid at most once a second, a worker lost
# leaves at most about a second's worth of answers unrecorded (besides what it
# had not sent yet), and the rest of the batch is never left unstamped longer
# than that and one send (each record renews it, for mark_lost_sendings).
RECORD_EVERY_SECONDS = 1.0


def dispatched_channels() -> tuple[str, ...]:
    """The channels this deployment can send: email always, SMS and voice
    once Twilio is configured."""
    if settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM_NUMBER:
        return (Channel.EMAIL, Channel.SMS, Channel.VOICE)
    return (Channel.EMAIL,)


class TransitionRefused(ValueError):
    """A state change ``TRANSITIONS`` does not allow (a late event, say)."""


def move(
    message: Message,
    state: str,
    *,
    detail: str = "",
    source: str = "",
    event_id: str = "",
    **fields,
) -> Message:
    """Change ``message`` to ``state`` (with ``fields``), recording the event
    (with the provider's ``source`` and ``event_id`` when a provider's event
    moved it). Call it inside a transaction that holds the message's row lock."""
    if not message.can_move_to(state):
        raise TransitionRefused(f"A {message.state} message cannot become {state}.")
    now = timezone.now()
    message.state = state
    message.state_changed_at = now
    for name, value in fields.items():
        setattr(message, name, value)
    message.save(update_fields=["state", "state_changed_at", *fields])
    MessageEvent.objects.create(
        message=message,
        state=state,
        detail=detail[:255],
        source=source,
        event_id=event_id,
        occurred_at=now,
    )
    return message


# --- taking a batch ------------------------------------------------------------------------


@dataclass
class Batch:
    """What ``take_batch`` did: how many due messages it locked and judged,
    and those it took for sending, in the order they were due."""

    examined: int = 0
    taken: list[Message] = field(default_factory=list)


def take(message_id: int) -> Message | None:
    """Take one due message for sending, after the gate, and commit that;
    None when it is not due, taken by another worker, held or suppressed."""
    taken = take_batch(1, pks=[message_id], channels=tuple(Channel.values)).taken
    return taken[0] if taken else None


def take_batch(
    size: int, *, pks: list[int] | None = None, channels: tuple[str, ...] | None = None
) -> Batch:
    """Take up to ``size`` due messages (queued, or held until now; the
    oldest first; only ``pks`` if given; of ``channels``, by default those
    this deployment sends) for sending, in one transaction that commits
    before anything is sent: the rows locked, skipping those another worker
    holds; the gate asked once for all of them; the office's rate limit
    counted once per office and channel; then the moves, set-based:
    ``sending`` (one attempt more), held (until the gate's moment, or the
    next minute when over the limit) or suppressed, and one insert of their
    events."""
    now = timezone.now()
    with transaction.atomic():
        due = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("account__office")
            .filter(state__in=[MessageState.QUEUED, MessageState.HELD], send_after__lte=now)
        )
        if pks is not None:
            due = due.filter(pk__in=pks)
        due = due.filter(channel__in=channels or dispatched_channels())
        messages = list(due.order_by("send_after", "pk")[:size])
        if not messages:
            return Batch()
        decisions = gate.check_many(messages)
        suppressed: list[tuple[Message, gate.Decision]] = []
        held: list[tuple[Message, gate.Decision]] = []
        limited: dict[tuple[int, str], list[Message]] = defaultdict(list)
        for message in messages:
            decision = decisions[message.pk]
            if decision.action == gate.SUPPRESS:
                suppressed.append((message, decision))
            elif decision.action == gate.DEFER:
                held.append((message, decision))
            elif message.account.office_id is not None and not message.ignore_rate_limit:
                limited[message.account.office_id, message.channel].append(message)
        for (office_id, channel), group in limited.items():
            office = group[0].account.office
            limit = office.max_messages_per_minute
            granted = limiter.take_slots(office_id, channel, limit, len(group), now=now)
            if granted < len(group):
                reason = (
                    f"{office.name} sends at most {limit} "
                    f"{group[0].get_channel_display()} a minute; it goes in the next minute."
                )
                over = gate.defer("rate_limit", reason, limiter.next_minute(now))
                held.extend((message, over) for message in group[granted:])  # the last due wait

        not_taken = {m.pk for m, _ in suppressed} | {m.pk for m, _ in held}
        taken = [m for m in messages if m.pk not in not_taken]
        for message in taken:
            # The end of the debtor's allowed hours, if a rule set one: the
            # send checks it and passes it on to Twilio (not stored).
            message.send_by = decisions[message.pk].until
        events: list[MessageEvent] = []
        _move_all(taken, MessageState.SENDING, now, events, attempts=F("attempts") + 1, rule="",
                  reason="")  # fmt: skip
        for message in taken:
            message.attempts += 1
        for (rule, reason), group in _grouped(suppressed, lambda m, d: (d.rule, _reason(d))):
            _move_all(group, MessageState.SUPPRESSED, now, events, detail=reason, rule=rule,
                      reason=reason)  # fmt: skip
        # A queued message becomes held; one already held just waits longer
        # (no new event each time).
        for (state, until, rule, reason), group in _grouped(
            held, lambda m, d: (m.state, d.until, d.rule, _reason(d))
        ):
            if state == MessageState.HELD:
                Message.objects.filter(pk__in=[m.pk for m in group]).update(
                    send_after=until, rule=rule, reason=reason
                )
            else:
                _move_all(group, MessageState.HELD, now, events, detail=reason, rule=rule,
                          reason=reason, send_after=until)  # fmt: skip
        _insert_all(events)
    return Batch(examined=len(messages), taken=taken)


REASON_LENGTH = Message._meta.get_field("reason").max_length


def _reason(decision: gate.Decision) -> str:
    """A rule's reason as a message keeps it (a reason naming many zones is
    cut at the field's length rather than failing the batch)."""
    reason = decision.reason
    return reason if len(reason) <= REASON_LENGTH else reason[: REASON_LENGTH - 1] + "…"


def _grouped(pairs, key):
    """(key, messages) for messages paired with decisions, grouped by
    ``key(message, decision)``."""
    groups: dict[tuple, list[Message]] = defaultdict(list)
    for message, decision in pairs:
        groups[key(message, decision)].append(message)
    return groups.items()


def _move_all(messages, state: str, now, events: list, *, detail: str = "", **fields) -> None:
    """Move ``messages`` (locked, and each allowed to go there) to ``state``
    with ``fields`` in one update; their events go to ``events``."""
    if not messages:
        return
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(
        state=state, state_changed_at=now, **fields
    )
    for message in messages:
        message.state, message.state_changed_at = state, now
        for name, value in fields.items():
            if not hasattr(value, "resolve_expression"):
                setattr(message, name, value)
        events.append(
            MessageEvent(message=message, state=state, detail=detail[:255], occurred_at=now)
        )


# --- sending -------------------------------------------------------------------------------


class _Refused(Exception):
    """The provider answered and refused the message: a retry would not help."""


# Errors that prove the message was not accepted: safe to try again.
_NOT_ACCEPTED = (
    ConnectionRefusedError,
    smtplib.SMTPConnectError,
    socket.gaierror,
    requests.exceptions.ConnectTimeout,
)


def _never_sent(exc: Exception) -> bool:
    """Whether ``exc`` proves the request never reached the provider: no
    connection was made. A connection lost after the request went out
    proves nothing, and leaves the message unknown."""
    if isinstance(exc, _NOT_ACCEPTED):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


# Refusals that will not change on a retry.
_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, _Refused)


class _TwilioSession(requests.Session):
    """The Twilio client's HTTP session, which reads the environment's proxy
    and CA settings (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...)
    once per host for the client's life, not for every request: requests
    scans every environment variable twice a request for them, a good part
    of an SMS's cost when the client is reused."""

    def __init__(self):
        super().__init__()
        self._environment: dict[tuple[str, str], dict] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies or stream is not None or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        host = urlsplit(url)[:2]
        if host not in self._environment:
            self._environment[host] = super().merge_environment_settings(url, {}, None, None, None)
        merged = self._environment[host]
        return {**merged, "proxies": dict(merged["proxies"])}


def twilio_client() -> Client:
    """Twilio's client, pointed at ``TWILIO_API_BASE`` if set: one HTTP
    session, which keeps its connections for the requests that follow."""
    http_client = TwilioHttpClient()
    session = _TwilioSession()
    session.mount("https://", http_client.session.get_adapter("https://"))
    http_client.session = session
    client = Client(
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client
    )
    if settings.TWILIO_API_BASE:
        client.api.base_url = settings.TWILIO_API_BASE
    return client


class _Providers:
    """The connections a run sends over: one email connection per batch
    (``close`` after it), opened at its first email and again after any
    error, and one Twilio client (one HTTP session) for the whole run."""

    def __init__(self):
        self._email = None
        self._twilio: Client | None = None

    def email(self):
        if self._email is None:
            self._email = get_connection()
        self._email.open()  # already open: nothing; SMTP: connects, or raises
        return self._email

    def twilio(self) -> Client:
        if self._twilio is None:
            self._twilio = twilio_client()
        return self._twilio

    def close(self) -> None:
        """Close the email connection (after a batch, or an error: the next
        message gets a fresh one)."""
        connection, self._email = self._email, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped anyway
                connection.close()

    def finish(self) -> None:
        """The run is over: close everything, the Twilio client's session too."""
        self.close()
        client, self._twilio = self._twilio, None
        session = getattr(getattr(client, "http_client", None), "session", None)
        if session is not None:
            session.close()


def _deliver_email(message: Message, connection) -> str:
    """Send one email with its own opt-out link (Regulation F): where the
    message keeps the marker of ``{{optOutLink}}``, in its bodies (escaped
    in the HTML one), and in the headers of RFC 2369 and RFC 8058 with which
    a mail client offers its own one-click unsubscribe (a POST to the link)."""
    opt_out_url = optout.url_for(message)
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text.replace(OPT_OUT_LINK_MARKER, opt_out_url),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers={
            "Message-ID": message.message_id_header,
            "List-Unsubscribe": f"<{opt_out_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        connection=connection,
    )
    if message.html:
        html = message.html.replace(OPT_OUT_LINK_MARKER, escape(opt_out_url))
        email.attach_alternative(html, "text/html")
    email.send()  # connection.send_messages([email]): this message's own answer
    # An ESP through anymail reports its own id; SMTP has the Message-ID.
    status = getattr(email, "anymail_status", None)
    return (getattr(status, "message_id", None) or message.message_id_header)[:100]


# Twilio keeps a text in its queue for at most 10 hours (ValidityPeriod
# from 1 to 36,000 seconds).
TWILIO_MAX_VALIDITY = 36000


def _seconds_left(message: Message) -> int | None:
    """Whole seconds until the message's allowed hours end (the gate's
    ``send_by``), or None when no rule set an end."""
    send_by = getattr(message, "send_by", None)
    if send_by is None:
        return None
    return int((send_by - timezone.now()).total_seconds())


def _deliver_twilio(message: Message, client: Client) -> str:
    callback = settings.TWILIO_STATUS_CALLBACK_URL or None
    if message.channel == Channel.SMS:
        left = _seconds_left(message)
        sent = client.messages.create(
            to=message.to,
            from_=settings.TWILIO_FROM_NUMBER,
            body=message.text,
            status_callback=callback,
            # Not delivered from Twilio's queue after the debtor's 21:00.
            validity_period=min(left, TWILIO_MAX_VALIDITY) if left is not None else None,
        )
    else:
        # The script is spoken with <Say>; escaped, so it is only ever text.
        twiml = f"<Response><Say>{escape(message.text)}</Say></Response>"
        sent = client.calls.create(
            to=message.to,
            from_=settings.TWILIO_FROM_NUMBER,
            twiml=twiml,
            status_callback=callback,
            status_callback_event=["completed"] if callback else None,
        )
    return sent.sid


@dataclass
class _Answer:
    """The provider's answer to one message: the state it should take, with
    these fields."""

    message: Message
    state: str
    fields: dict


def _send(message: Message, providers: _Providers) -> _Answer:
    """Send one taken message; its answer, never an exception."""
    left = _seconds_left(message)
    if left is not None and left < 1:
        # The debtor's allowed hours ended while the batch was being sent:
        # back to held, and the gate finds the next allowed moment.
        return _Answer(
            message,
            MessageState.HELD,
            {
                "rule": "time_of_day",
                "reason": "The debtor's allowed hours ended before it could go.",
                "send_after": timezone.now(),
            },
        )
    try:
        try:
            if message.channel == Channel.EMAIL:
                provider_id = _deliver_email(message, providers.email())
            else:
                provider_id = _deliver_twilio(message, providers.twilio())
        except TwilioRestException as exc:
            # Twilio answered: a 4xx is a refusal (a bad number, say); a 5xx
            # leaves the message's fate unknown.
            if 400 <= (exc.status or 0) < 500:
                raise _Refused(f"Twilio {exc.status}: {exc.msg}") from exc
            raise
    except Exception as exc:  # noqa: BLE001  (its fate is unknown unless proven unsent)
        if message.channel == Channel.EMAIL:
            providers.close()  # whatever state it is in: the next message opens a fresh one
        if isinstance(exc, _REFUSED):
            return _Answer(message, MessageState.FAILED, {"error": f"Refused: {exc}"[:255]})
        if _never_sent(exc):
            return _not_accepted(message, f"Not accepted: {exc}")
        logger.warning("Message %s: unknown fate after %r", message.pk, exc)
        return _Answer(message, MessageState.UNKNOWN, {"error": f"Unknown: {exc!r}"[:255]})
    return _Answer(
        message, MessageState.SENT, {"provider_id": provider_id, "sent_at": timezone.now()}
    )


def _not_accepted(message: Message, error: str) -> _Answer:
    """Nothing reached the provider: held for a retry, or failed once the
    attempts have run out."""
    if message.attempts > len(RETRY_DELAYS):
        return _Answer(message, MessageState.FAILED, {"error": error[:255]})
    delay = RETRY_DELAYS[message.attempts - 1]
    return _Answer(
        message,
        MessageState.HELD,
        {
            "error": error[:255],
            "rule": "provider",
            "reason": "Waiting to retry: the provider could not be reached.",
            "send_after": timezone.now() + dt.timedelta(seconds=delay),
        },
    )


def _send_batch(messages: list[Message], providers: _Providers) -> dict[int, str]:
    """Send taken messages one by one and record their answers: at the end,
    or sooner once ``RECORD_EVERY_SECONDS`` have passed since the take or
    the last record, which then also renews the rest of the batch's lease;
    the state each ended in, by pk."""
    ended: dict[int, str] = {}
    unrecorded: list[_Answer] = []
    written = time.monotonic()  # the take has just committed
    try:
        for i, message in enumerate(messages):
            unrecorded.append(_send(message, providers))
            if i + 1 < len(messages) and time.monotonic() - written >= RECORD_EVERY_SECONDS:
                answers, unrecorded = unrecorded, []
                ended.update(_record(answers, renew=[m.pk for m in messages[i + 1 :]]))
                written = time.monotonic()
    finally:
        providers.close()  # the batch's email connection (QUIT once every answer is in)
        answers, unrecorded = unrecorded, []
        if answers:
            ended.update(_record(answers))
    return ended


# --- recording the answers -----------------------------------------------------------------


def _record(answers: list[_Answer], *, renew: Sequence[int] = ()) -> dict[int, str]:
    """Record providers' answers in one transaction, set-based: each message
    moved where ``TRANSITIONS`` allow, under its row lock, with one insert
    of their events. A message that stopped being this worker's meanwhile
    (``mark_lost_sendings`` made a slow send unknown) moves only where the
    table allows (unknown → sent); otherwise the answer is kept as an event
    that changed nothing, and the run goes on. The ``renew`` messages, this
    worker's still to be sent, are stamped as being sent now (their
    ``state_changed_at``): ``mark_lost_sendings`` takes only a message left
    sending that long by a worker that stopped. Returns the state each
    message is in, by pk."""
    now = timezone.now()
    ended: dict[int, str] = {}
    events: list[MessageEvent] = []
    with transaction.atomic():
        if renew:
            Message.objects.filter(pk__in=renew, state=MessageState.SENDING).update(
                state_changed_at=now
            )
        rest = answers
        if connections[Message.objects.db].vendor == "postgresql":
            # Those still sending (every answer may move them), in one update
            # per kind of answer that locks, checks and moves at once.
            rest = []
            for (state, names), group in _kinds(answers):
                moved = _update_sending(group, state, names, now)
                for answer in group:
                    if answer.message.pk not in moved:
                        rest.append(answer)
                        continue
                    ended[answer.message.pk] = state
                    events.append(_event(answer.message.pk, answer, now))
        if rest:
            _record_one_by_one(rest, now, ended, events)
        _insert_all(events)
    for answer in answers:  # the caller's instances follow
        if ended.get(answer.message.pk) == answer.state:
            answer.message.state, answer.message.state_changed_at = answer.state, now
            for name, value in answer.fields.items():
                setattr(answer.message, name, value)
    return ended


def _event(pk: int, answer: _Answer, now, *, applied: bool = True) -> MessageEvent:
    detail = answer.fields.get("error", "")
    if not applied:
        detail = detail or f"The provider's answer came late: {answer.state}"
    return MessageEvent(
        message_id=pk, state=answer.state, detail=detail[:255], applied=applied, occurred_at=now
    )


def _kinds(answers: list[_Answer]):
    """((state, field names), answers) for answers grouped by what they set."""
    kinds: dict[tuple[str, tuple[str, ...]], list[_Answer]] = defaultdict(list)
    for answer in answers:
        kinds[answer.state, tuple(sorted(answer.fields))].append(answer)
    return kinds.items()


def _record_one_by_one(answers: list[_Answer], now, ended: dict, events: list) -> None:
    """The answers whose message may not be sending any more: the rows
    locked and each checked against ``TRANSITIONS``."""
    locked = {
        m.pk: m
        for m in Message.objects.select_for_update()
        .filter(pk__in=[a.message.pk for a in answers])
        .order_by("pk")
        .only("state", "state_changed_at", *_ANSWER_FIELDS)
    }
    moved: list[Message] = []
    changed_fields = {"state", "state_changed_at"}
    for answer in answers:
        row = locked.get(answer.message.pk)
        if row is None:  # deleted meanwhile (its account was): nothing to record
            continue
        if not row.can_move_to(answer.state):
            events.append(_event(row.pk, answer, now, applied=False))
            ended[row.pk] = row.state
            continue
        row.state, row.state_changed_at = answer.state, now
        for name, value in answer.fields.items():
            setattr(row, name, value)
        changed_fields.update(answer.fields)
        moved.append(row)
        events.append(_event(row.pk, answer, now))
        ended[row.pk] = answer.state
    if moved:
        Message.objects.bulk_update(moved, sorted(changed_fields))


# What an answer may set, besides the state.
_ANSWER_FIELDS = ("provider_id", "sent_at", "error", "rule", "reason", "send_after")


def _update_sending(answers: list[_Answer], state: str, names: tuple[str, ...], now) -> set[int]:
    """PostgreSQL: lock the answers' messages that are still ``sending`` (in
    pk order) and move them to ``state``, each with its own ``names``
    fields, in one statement (Django's ``bulk_update`` builds a CASE per
    field and row, about a millisecond a row); the pks it moved."""
    connection = connections[Message.objects.db]
    quote = connection.ops.quote_name
    table = quote(Message._meta.db_table)
    fields = [Message._meta.get_field(name) for name in names]
    row = "(%s" + "".join(f", %s::{f.db_type(connection)}" for f in fields) + ")"
    params: list = [[a.message.pk for a in answers], MessageState.SENDING, state, now]
    for answer in answers:
        params.append(answer.message.pk)
        params.extend(f.get_db_prep_save(answer.fields[f.name], connection) for f in fields)
    columns = "".join(f", {quote(f.column)}" for f in fields)
    assignments = "".join(f", {quote(f.column)} = v.{quote(f.column)}" for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH locked AS (SELECT id FROM {table} WHERE id = ANY(%s) AND state = %s "
            "ORDER BY id FOR UPDATE) "
            f"UPDATE {table} AS m SET state = %s, state_changed_at = %s{assignments} "
            f"FROM (VALUES {', '.join([row] * len(answers))}) AS v (id{columns}), locked "
            "WHERE m.id = v.id AND m.id = locked.id RETURNING m.id",
            params,
        )
        return {pk for (pk,) in cursor.fetchall()}


def _insert_all(events: list[MessageEvent]) -> None:
    """``MessageEvent.objects.bulk_create(events)``; on PostgreSQL one plain
    multi-row INSERT (no ids read back: nothing needs them)."""
    if not events:
        return
    connection = connections[MessageEvent.objects.db]
    if connection.vendor != "postgresql":
        MessageEvent.objects.bulk_create(events)
        return
    quote = connection.ops.quote_name
    fields = [f for f in MessageEvent._meta.concrete_fields if not f.primary_key]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [
        f.get_db_prep_save(getattr(event, f.attname), connection)
        for event in events
        for f in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(MessageEvent._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES {', '.join([row] * len(events))}",
            params,
        )


def _settle(message: Message, state: str, **fields) -> str:
    """Record one answer (``_record`` of one): the state the message is in."""
    return _record([_Answer(message, state, fields)]).get(message.pk, state)


def _retry_or_fail(message: Message, error: str) -> str:
    """Record that nothing reached the provider: held for a retry, or failed."""
    answer = _not_accepted(message, error)
    return _settle(message, answer.state, **answer.fields)


# --- the runs ------------------------------------------------------------------------------


def send_message(message_id: int) -> str | None:
    """Send one message if it is due; returns the state it ended in (None
    when it was not taken)."""
    message = take(message_id)
    if message is None:
        return None
    providers = _Providers()
    try:
        return _send_batch([message], providers).get(message.pk)
    finally:
        providers.finish()


def send_due_messages(limit: int = 500) -> int:
    """Send the due messages (queued, or held until now), oldest first, in
    batches of ``MESSAGE_DISPATCH_BATCH``, until none is left due or
    ``limit`` have been looked at; returns how many were taken."""
    size = max(1, settings.MESSAGE_DISPATCH_BATCH)
    channels = dispatched_channels()
    providers = _Providers()
    examined = taken = 0
    try:
        while examined < limit:
            wanted = min(size, limit - examined)
            batch = take_batch(wanted, channels=channels)
            examined += batch.examined
            taken += len(batch.taken)
            if batch.taken:
                _send_batch(batch.taken, providers)
            if batch.examined < wanted:  # nothing more is due (or the rest is another's)
                break
    finally:
        providers.finish()
    return taken


def mark_lost_sendings() -> int:
    """Messages left ``sending`` by a worker that died: ``unknown``, for a
    person to decide (the provider may have them). Returns how many."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.MESSAGE_SENDING_TIMEOUT_SECONDS)
    lost = 0
    for pk in Message.objects.filter(
        state=MessageState.SENDING, state_changed_at__lt=cutoff
    ).values_list("pk", flat=True):
        with transaction.atomic():
            message = (
                Message.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, state=MessageState.SENDING, state_changed_at__lt=cutoff)
                .first()
            )
            if message is not None:
                move(message, MessageState.UNKNOWN, detail="The worker sending it was lost.",
                     error="The worker sending it was lost; it may have been sent.")  # fmt: skip
                lost += 1
    return lost
