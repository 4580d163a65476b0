"""Writes of the communications app, each in a transaction with its audit
record."""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.html import linebreaks

from accounts.models import Account, ContactPoint, DebtorEmail, DebtorPhone
from billing.models import Claim
from bulkops.registry import Outcomes
from bulkops.services import OperationRefused, may_cancel, record_audit_event, request_cancel
from communications import rendering, sms
from communications.dispatch import move
from communications.models import (
    CONTENT_FIELDS,
    Channel,
    Message,
    MessageEvent,
    MessageState,
    MessageTemplate,
    MessageTemplateVersion,
)
from communications.placeholders import values_for
from communications.selectors import CANCELLABLE_STATES, messages_visible_to

FIELDS = ("channel", "name", "locale", "is_active", "subject", "html_body", "text_body", "body")

# Every message tells the debtor how to opt out (Regulation F, 12 CFR
# 1006.6(e)): an email by its link, in each of its bodies (a mail client
# shows one of them), a text message in words.
NEEDS_OPT_OUT_LINK = "An email must carry the opt-out link: add {{optOutLink}}."
NEEDS_STOP_TEXT = "A text message must say how to opt out: add “Reply STOP to opt out”."
_STOP_TEXT = re.compile(r"\breply\s+stop\s+to\s+opt\s+out\b", re.IGNORECASE)


def _says_how_to_opt_out(body: str) -> bool:
    """Whether an SMS body says "Reply STOP to opt out", in any case and
    spacing, or has {{optOutText}}, which says it."""
    return bool(_STOP_TEXT.search(body)) or "optOutText" in rendering.used_placeholders(body)


def template_problems(channel: str, content: dict[str, str]) -> dict[str, list[str]]:
    """Per field, why the content cannot be saved or sent: unknown or
    malformed placeholders and tags (every field), HTML in an SMS, what each
    channel needs, and the opt-out (an email's link in each body it has, an
    SMS's words; a voice script has no such rule)."""
    errors: dict[str, list[str]] = {}
    email = channel == Channel.EMAIL
    for field in CONTENT_FIELDS[channel]:
        found = rendering.problems(content.get(field, ""), email=email)
        if found:
            errors[field] = found
    if email:
        if not content.get("subject", "").strip():
            errors.setdefault("subject", []).append("An email needs a subject.")
        if not (content.get("html_body", "").strip() or content.get("text_body", "").strip()):
            errors.setdefault("html_body", []).append("An email needs an HTML or a text body.")
        for field in ("html_body", "text_body"):
            body = content.get(field, "")
            if body.strip() and "optOutLink" not in rendering.used_placeholders(body):
                errors.setdefault(field, []).append(NEEDS_OPT_OUT_LINK)
    else:
        body = content.get("body", "")
        if not body.strip():
            errors.setdefault("body", []).append(
                "An SMS needs its text."
                if channel == Channel.SMS
                else "A voice message needs its script."
            )
        if channel == Channel.SMS and sms.has_html(body):
            errors.setdefault("body", []).append("An SMS is plain text: remove the HTML.")
        if channel == Channel.SMS and body.strip() and not _says_how_to_opt_out(body):
            errors.setdefault("body", []).append(NEEDS_STOP_TEXT)
    return errors


@transaction.atomic
def save_template(*, user, template: MessageTemplate | None = None, **values) -> MessageTemplate:
    """Create a template in the user's company, or change one of its own.
    A change of content is a new version; every save is audited. Refuses
    (ValidationError, by field) content with problems and a name already
    used for that channel and locale."""
    if template is not None and not user.is_superuser and template.company_id != user.company_id:
        raise PermissionDenied("That template belongs to another company.")
    if template is None and user.company_id is None:
        raise PermissionDenied("Only a company's users have templates.")
    channel = values.get("channel", template.channel if template else "")
    if channel not in Channel.values:
        raise ValidationError({"channel": "Choose email, SMS or voice."})
    if template is not None and channel != template.channel:
        raise ValidationError({"channel": "A template keeps its channel; make a new one."})
    content = {
        f: (values.get(f) if f in values else getattr(template, f, "")) or "" for f in FIELDS[4:]
    }
    # Only the channel's own fields are kept.
    for field in FIELDS[4:]:
        if field not in CONTENT_FIELDS[channel]:
            content[field] = ""
    errors = template_problems(channel, content)
    name = (values.get("name") if "name" in values else template.name if template else "").strip()
    if not name:
        errors.setdefault("name", []).append("Give the template a name.")
    if errors:
        raise ValidationError(errors)

    before = None
    if template is None:
        template = MessageTemplate(company_id=user.company_id, channel=channel, version=1)
    else:
        before = {f: getattr(template, f) for f in FIELDS}
    template.name = name
    template.locale = values.get("locale", template.locale)
    template.is_active = values.get("is_active", template.is_active)
    changed_content = before is None or any(before[f] != content[f] for f in content)
    for field, value in content.items():
        setattr(template, field, value)
    if before is not None and changed_content:
        template.version += 1
    template.updated_at = timezone.now()
    template.updated_by = user
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ValidationError(
            {"name": "There is already a template with this name for this channel and locale."}
        ) from None
    if changed_content:
        MessageTemplateVersion.objects.create(
            template=template, version=template.version, saved_by=user, **content
        )
    after = {f: getattr(template, f) for f in FIELDS}
    changes = {
        f: (before[f] if before else None, after[f])
        for f in FIELDS
        if before is None or before[f] != after[f]
    }
    if before is not None and changed_content:
        changes["version"] = (template.version - 1, template.version)
    record_audit_event(
        actor=user,
        action="message_template.updated" if before else "message_template.created",
        obj=template,
        changes=changes,
    )
    return template


# Why a selected account gets no message (the operation page lists them).
NO_EMAIL = "No email address"
EMAIL_INVALID = "Email address marked invalid"
EMAIL_OPTED_OUT = "Opted out of email"
EMAIL_NO_CONSENT = "No consent to email"
NO_MOBILE = "No mobile phone number"
NO_PHONE = "No phone number"
PHONE_INVALID = "Phone number marked invalid"
SMS_OPTED_OUT = "Opted out of text messages"
SMS_NO_CONSENT = "No consent to text messages"
VOICE_OPTED_OUT = "Opted out of calls"
VOICE_NO_CONSENT = "No consent to calls"
SAME_DEBTOR = "Another selected account of the same debtor gets this message"
TOO_LONG = f"The text message is longer than {sms.MAX_CHARACTERS} characters once filled in"
NO_ACCOUNT = "The account no longer exists"


@dataclass(frozen=True)
class Content:
    """What a batch sends before it is filled in for each recipient: a
    template's version, or free text typed when sending (with placeholders).
    ``custom_body`` is the free text that replaces ``{{customBody}}`` in a
    template that has it (seed 004)."""

    channel: str
    subject: str = ""
    html: str = ""
    text: str = ""  # the email's text body, the SMS or the voice script
    custom_body: str = ""
    version_id: int | None = None

    @classmethod
    def of_version(cls, version: MessageTemplateVersion, *, custom_body: str = "") -> Content:
        channel = version.template.channel
        if channel == Channel.EMAIL:
            return cls(
                channel,
                subject=version.subject,
                html=version.html_body,
                text=version.text_body,
                custom_body=custom_body,
                version_id=version.pk,
            )
        return cls(channel, text=version.body, custom_body=custom_body, version_id=version.pk)

    @classmethod
    def free_text(cls, channel: str, *, text: str, subject: str = "") -> Content:
        """Free text: for an email its HTML body is the text's paragraphs,
        escaped, so the typed text can hold no markup."""
        return cls(channel, subject=subject if channel == Channel.EMAIL else "", text=text)

    def problems(self) -> dict[str, list[str]]:
        """Why this content cannot be sent, by field (as a template's)."""
        if self.channel == Channel.EMAIL:
            fields = {"subject": self.subject, "html_body": self.html, "text_body": self.text}
        else:
            fields = {"body": self.text}
        errors = template_problems(self.channel, fields)
        if self.custom_body:
            found = rendering.problems(self.custom_body, email=self.channel == Channel.EMAIL)
            if found:
                errors["custom_body"] = found
        return errors

    def render(self, values: dict[str, str]) -> dict[str, str]:
        """The message's subject, text and HTML for one recipient's values."""
        if self.custom_body:
            # The free text may use placeholders too: fill them in first.
            values = {**values, "customBody": rendering.render(self.custom_body, values)}
        text = rendering.render(self.text, values)
        if self.channel != Channel.EMAIL:
            return {"subject": "", "text": text, "html": ""}
        html = (
            rendering.render(self.html, values, html=True)
            if self.html
            else linebreaks(text, autoescape=True)
        )
        return {"subject": rendering.render(self.subject, values), "text": text, "html": html}


def _contact_points(channel: str, debtor_ids: list[int]) -> dict[int, ContactPoint]:
    """The address or number each debtor gets ``channel`` at: the primary
    email; for SMS a mobile number, the primary first; for a call the
    primary number, else any."""
    if channel == Channel.EMAIL:
        return {
            e.debtor_id: e
            for e in DebtorEmail.objects.filter(debtor_id__any=debtor_ids, is_primary=True)
        }
    phones = DebtorPhone.objects.filter(debtor_id__any=debtor_ids)
    if channel == Channel.SMS:
        phones = phones.filter(phone_type=DebtorPhone.PhoneType.MOBILE)
    points: dict[int, ContactPoint] = {}
    for phone in phones.order_by("debtor_id", "-is_primary", "pk"):
        points.setdefault(phone.debtor_id, phone)
    return points


def unreachable_reason(channel: str, point: ContactPoint | None) -> str | None:
    """Why a debtor cannot be sent ``channel`` at ``point`` (None: they can)."""
    if channel == Channel.EMAIL:
        if point is None:
            return NO_EMAIL
        if point.validity == ContactPoint.Validity.INVALID:
            return EMAIL_INVALID
        if point.email_opted_out:
            return EMAIL_OPTED_OUT
        if not point.email_consent:
            return EMAIL_NO_CONSENT
        return None
    if point is None:
        return NO_MOBILE if channel == Channel.SMS else NO_PHONE
    if point.validity == ContactPoint.Validity.INVALID:
        return PHONE_INVALID
    if channel == Channel.SMS:
        if point.sms_opted_out:
            return SMS_OPTED_OUT
        return None if point.sms_consent else SMS_NO_CONSENT
    if point.voice_opted_out:
        return VOICE_OPTED_OUT
    return None if point.voice_consent else VOICE_NO_CONSENT


def _address(channel: str, point: ContactPoint) -> str:
    return point.address if channel == Channel.EMAIL else point.number


@dataclass
class Rendered:
    """One recipient's message, filled in, or why they get none."""

    account: Account
    to: str = ""
    subject: str = ""
    text: str = ""
    html: str = ""
    reason: str | None = None


def render_for_accounts(
    *, accounts: list[Account], content: Content, claim_id: int | None = None, served=()
) -> list[Rendered]:
    """Fill ``content`` in for each account's debtor (accounts with
    debtor, creditor, assigned_to and company loaded), in order: one message
    a debtor (``served``: debtors who already have one in this batch), the
    unreachable and, for SMS, the too long with their reason. The claim is
    ``claim_id`` where it is the account's, else its oldest claim with a
    balance. A handful of queries, whatever the number of accounts."""
    account_ids = [a.pk for a in accounts]
    points = _contact_points(content.channel, list({a.debtor_id for a in accounts}))
    claims: dict[int, Claim] = {}
    chosen = Claim.objects.filter(account_id__any=account_ids).filter(
        **({"pk": claim_id} if claim_id is not None else {"balance__gt": 0})
    )
    for claim in chosen.order_by("account_id", "due_date", "pk"):
        claims.setdefault(claim.account_id, claim)
    served = set(served)
    results = []
    for account in accounts:
        point = points.get(account.debtor_id)
        reason = unreachable_reason(content.channel, point)
        if reason is None and account.debtor_id in served:
            reason = SAME_DEBTOR
        if reason:
            results.append(Rendered(account, reason=reason))
            continue
        values = values_for(
            {
                "account": account,
                "debtor": account.debtor,
                "claim": claims.get(account.pk),
                "company": account.company,
                "collector": account.assigned_to,
            }
        )
        filled = content.render(values)
        if content.channel == Channel.SMS and sms.measure(filled["text"]).too_long:
            results.append(Rendered(account, reason=TOO_LONG))
            continue
        served.add(account.debtor_id)
        results.append(Rendered(account, to=_address(content.channel, point), **filled))
    return results


def accounts_for_messages(account_ids) -> list[Account]:
    return list(
        Account.objects.filter(pk__any=list(account_ids))
        .select_related("debtor", "creditor", "assigned_to", "company")
        .order_by("pk")
    )


def queue_messages(
    *,
    account_ids,
    content: Content,
    send_after,
    bulk_operation=None,
    actor=None,
    claim_id: int | None = None,
    ignore_rate_limit: bool = False,
    ignore_contact_preferences: bool = False,
) -> Outcomes:
    """Queue one message of ``content`` to each account's debtor, filled in
    for that account, to be sent from ``send_after`` (the dispatch's gate
    decides again at that moment). Accounts whose debtor cannot be reached
    on the channel, whose SMS is too long once filled in, or whose debtor
    already has this batch's message are skipped with the reason.
    Set-based: a handful of queries and one insert a chunk."""
    problems = content.problems()
    if problems:
        raise ValidationError(problems)
    created_by = actor if actor is not None and actor.is_authenticated else None
    sender_company_id = (bulk_operation.company_id if bulk_operation is not None else None) or (
        created_by.company_id if created_by is not None else None
    )
    if fills_in_sql(content):
        return _queue_in_sql(
            account_ids=account_ids,
            content=content,
            send_after=send_after,
            bulk_operation=bulk_operation,
            created_by=created_by,
            sender_company_id=sender_company_id,
            claim_id=claim_id,
            ignore_rate_limit=ignore_rate_limit,
            ignore_contact_preferences=ignore_contact_preferences,
        )
    outcomes = Outcomes()
    accounts = accounts_for_messages(account_ids)
    outcomes.skip(set(account_ids) - {a.pk for a in accounts}, NO_ACCOUNT)
    served = ()
    if bulk_operation is not None:
        served = Message.objects.filter(
            bulk_operation=bulk_operation,
            account__debtor_id__any=list({a.debtor_id for a in accounts}),
        ).values_list("account__debtor_id", flat=True)
    rows = []
    for result in render_for_accounts(
        accounts=accounts, content=content, claim_id=claim_id, served=served
    ):
        if result.reason:
            outcomes.skip([result.account.pk], result.reason)
            continue
        rows.append(
            Message(
                # The sending company's message, also to an account another
                # company shares with it.
                company_id=sender_company_id or result.account.company_id,
                account=result.account,
                channel=content.channel,
                template_version_id=content.version_id,
                to=result.to,
                subject=result.subject,
                text=result.text,
                html=result.html,
                send_after=send_after,
                ignore_rate_limit=ignore_rate_limit,
                ignore_contact_preferences=ignore_contact_preferences,
                created_by=created_by,
                bulk_operation=bulk_operation,
            )
        )
    Message.objects.bulk_create(rows, batch_size=1000)
    return outcomes


def queue_emails(
    *, account_ids, version: MessageTemplateVersion, send_after, bulk_operation=None, actor=None
) -> Outcomes:
    """Queue one email of a template ``version`` per debtor (Schedule Emails)."""
    return queue_messages(
        account_ids=account_ids,
        content=Content.of_version(version),
        send_after=send_after,
        bulk_operation=bulk_operation,
        actor=actor,
    )


# --- a batch's Cancel, and a person's decision on an unknown message ------------------

EVENT_BATCH = 5000
NOTE_MAX = 500


def may_cancel_batch(user, operation) -> bool:
    """Whoever may send messages, and the batch's requester, in its company."""
    if not user.is_authenticated:
        return False
    if not user.is_superuser and operation.company_id != user.company_id:
        return False
    return user.has_perm("communications.process_messages") or operation.created_by_id == user.pk


def cancel_batch(*, user, operation) -> int:
    """Cancel every message of the batch not handed to a provider yet (queued
    or held); sent ones and those being sent are untouched. Set-based: one
    UPDATE and the messages' events in a few INSERTs, with the audit event,
    in one transaction. A batch whose operation still runs or waits is also
    stopped, when the user may, so that it queues no more. Returns how many
    messages were cancelled (0 when nothing was left: a second click)."""
    if not may_cancel_batch(user, operation):
        raise PermissionDenied("Only its requester or someone who may send messages cancels it.")
    if not operation.is_final and may_cancel(user, operation):
        with suppress(OperationRefused):  # it finished in the meantime
            request_cancel(user=user, operation=operation)
    now = timezone.now()
    detail = f"Cancelled with the rest of its batch by {user}."[:255]
    with transaction.atomic():
        cancelled = Message.objects.filter(
            bulk_operation=operation, state__in=CANCELLABLE_STATES
        ).update(state=MessageState.CANCELLED, state_changed_at=now, rule="", reason=detail)
        if not cancelled:
            return 0
        # The rows this UPDATE changed: cancelled at this very moment (a
        # cancelled message never changes again).
        ids = (
            Message.objects.filter(
                bulk_operation=operation, state=MessageState.CANCELLED, state_changed_at=now
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        events = []
        for pk in ids.iterator(chunk_size=EVENT_BATCH):
            events.append(
                MessageEvent(
                    message_id=pk, state=MessageState.CANCELLED, detail=detail, occurred_at=now
                )
            )
            if len(events) == EVENT_BATCH:
                MessageEvent.objects.bulk_create(events)
                events = []
        MessageEvent.objects.bulk_create(events)
        record_audit_event(
            actor=user,
            action="message_batch.cancelled",
            obj=operation,
            changes={"cancelled_messages": (0, cancelled)},
            bulk_operation=operation,
        )
    return cancelled


# What a person decides an unknown message became: (its new state, the words).
UNKNOWN_DECISIONS = {
    "sent": (MessageState.SENT, "Marked as sent"),
    "resend": (MessageState.QUEUED, "Sent again"),
}


def decide_unknown_message(*, user, message: Message, decision: str, note: str) -> Message:
    """An unknown message (its worker died between the provider's call and
    the commit, or the provider's answer was lost): a person who may send
    messages says it was sent after all (``"sent"``), or sends it again
    (``"resend"``: queued, to go at once, with the same Message-ID), with a
    note saying why. Audited; refused once it is no longer unknown."""
    if not user.has_perm("communications.process_messages"):
        raise PermissionDenied("You may not decide what became of a message.")
    if not messages_visible_to(user).filter(pk=message.pk).exists():
        raise PermissionDenied("That message belongs to another company.")
    if decision not in UNKNOWN_DECISIONS:
        raise ValidationError("Choose Mark as sent or Send again.")
    state, words = UNKNOWN_DECISIONS[decision]
    note = " ".join((note or "").split())
    if not note:
        raise ValidationError("Write a note saying why (what the provider shows, for example).")
    if len(note) > NOTE_MAX:
        raise ValidationError(f"Keep the note to {NOTE_MAX} characters.")
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.state != MessageState.UNKNOWN:
            raise ValidationError(
                f"This message is {locked.get_state_display().lower()} now, no longer unknown: "
                "nothing was changed."
            )
        now = timezone.now()
        fields: dict = {"error": ""}
        if state == MessageState.SENT:
            # Sent when it was last handed to the provider, as far as we know.
            fields["sent_at"] = (
                locked.events.filter(state=MessageState.SENDING)
                .order_by("-occurred_at", "-pk")
                .values_list("occurred_at", flat=True)
                .first()
                or now
            )
        else:
            fields.update(send_after=now, rule="", reason="")
        before = {"state": locked.state, **{name: getattr(locked, name) for name in fields}}
        move(locked, state, detail=f"{words} by {user}: {note}", **fields)
        changes = {name: (value, getattr(locked, name)) for name, value in before.items()}
        changes["note"] = (None, note)
        record_audit_event(
            actor=user,
            action="message.marked_sent" if state == MessageState.SENT else "message.sent_again",
            obj=locked,
            changes={k: v for k, v in changes.items() if v[0] != v[1]},
            bulk_operation=locked.bulk_operation,
        )
    message.refresh_from_db()
    return locked


# --- queueing inside the database (PostgreSQL) ---------------------------------------------

# How each channel finds the debtor's contact point (``_contact_points``) and
# why it cannot be used (``unreachable_reason``), as SQL over the account "a".
_SQL_POINT = {
    Channel.EMAIL: (
        "LEFT JOIN LATERAL (SELECT * FROM accounts_debtoremail pe WHERE pe.debtor_id = a.debtor_id"
        " AND pe.is_primary LIMIT 1) p ON true",
        "p.address",
        (
            ("p.id IS NULL", NO_EMAIL),
            ("p.validity = 'invalid'", EMAIL_INVALID),
            ("p.email_opted_out", EMAIL_OPTED_OUT),
            ("NOT p.email_consent", EMAIL_NO_CONSENT),
        ),
    ),
    Channel.SMS: (
        "LEFT JOIN LATERAL (SELECT * FROM accounts_debtorphone ph WHERE ph.debtor_id = a.debtor_id"
        " AND ph.phone_type = 'mobile' ORDER BY ph.is_primary DESC, ph.id LIMIT 1) p ON true",
        "p.number",
        (
            ("p.id IS NULL", NO_MOBILE),
            ("p.validity = 'invalid'", PHONE_INVALID),
            ("p.sms_opted_out", SMS_OPTED_OUT),
            ("NOT p.sms_consent", SMS_NO_CONSENT),
        ),
    ),
    Channel.VOICE: (
        "LEFT JOIN LATERAL (SELECT * FROM accounts_debtorphone ph WHERE ph.debtor_id = a.debtor_id"
        " ORDER BY ph.is_primary DESC, ph.id LIMIT 1) p ON true",
        "p.number",
        (
            ("p.id IS NULL", NO_PHONE),
            ("p.validity = 'invalid'", PHONE_INVALID),
            ("p.voice_opted_out", VOICE_OPTED_OUT),
            ("NOT p.voice_consent", VOICE_NO_CONSENT),
        ),
    ),
}


def fills_in_sql(content: Content) -> bool:
    """Whether ``queue_messages`` fills ``content`` in inside the database:
    on PostgreSQL, every placeholder with a SQL form, no free text for
    ``{{customBody}}`` and, for an email, its own HTML body."""
    if connection.vendor != "postgresql" or content.custom_body:
        return False
    if content.channel == Channel.EMAIL and not content.html:
        return False
    return rendering.sql_renderable(content.subject, content.text, content.html)


def _queue_in_sql(
    *,
    account_ids,
    content: Content,
    send_after,
    bulk_operation,
    created_by,
    sender_company_id,
    claim_id,
    ignore_rate_limit,
    ignore_contact_preferences,
) -> Outcomes:
    """``queue_messages`` as one INSERT ... SELECT: the same rows and the
    same skipped accounts with the same reasons as the Python path (a test
    compares them), each message filled in by the placeholders' SQL forms.
    Returns every selected account's outcome."""
    join, address, reasons = _SQL_POINT[content.channel]
    params: list = []
    reason_sql = "CASE " + " ".join(f"WHEN {test} THEN %s" for test, _ in reasons) + " END"
    subject_sql, subject_params = rendering.to_sql(content.subject)
    text_sql, text_params = rendering.to_sql(content.text)
    html_sql, html_params = rendering.to_sql(content.html, html=True)
    claim_sql = "c.id = %s" if claim_id is not None else "c.balance > 0"
    # Only the tables the message's placeholders read are joined. A chunk is
    # a sliver of the tables: each is reached by its index from the chunk's
    # accounts (LATERAL ... LIMIT 1, which the planner cannot turn into a hash
    # join reading the whole table once a chunk).
    used = subject_sql + text_sql + html_sql
    tables = [
        join_sql
        for alias, join_sql in (
            (
                "d",
                "JOIN LATERAL (SELECT dd.first_name, dd.last_name FROM accounts_debtor dd"
                " WHERE dd.id = a.debtor_id LIMIT 1) d ON true",
            ),
            ("co", "JOIN accounts_company co ON co.id = a.company_id"),
            ("cr", "LEFT JOIN accounts_creditor cr ON cr.id = a.creditor_id"),
            ("u", "LEFT JOIN accounts_user u ON u.id = a.assigned_to_id"),
            (
                "cl",
                "LEFT JOIN LATERAL (SELECT c.reference, c.balance, c.due_date FROM billing_claim c"
                f" WHERE c.account_id = a.id AND {claim_sql} ORDER BY c.due_date, c.id LIMIT 1)"
                " cl ON true",
            ),
        )
        if re.search(rf"\b{alias}\.", used)
    ]
    params += [r for _, r in reasons]
    params += subject_params + text_params + html_params
    params += [claim_id] if claim_id is not None and any(" cl ON" in t for t in tables) else []
    params += [list(account_ids)]
    too_long = (
        f"char_length(b.text) > {sms.MAX_CHARACTERS}" if content.channel == Channel.SMS else "false"
    )
    now = timezone.now()
    sql = f"""
        WITH base AS (
            SELECT a.id AS account_id, a.debtor_id, a.company_id,
                   {reason_sql} AS reason, {address} AS to_address,
                   {subject_sql} AS subject, {text_sql} AS text, {html_sql} AS html
            FROM accounts_account a
            {" ".join(tables)}
            {join}
            WHERE a.id = ANY(%s)
        ),
        fit AS (
            SELECT b.*, (b.reason IS NULL AND NOT {too_long}) AS fits FROM base b
        ),
        decided AS (
            SELECT f.*, CASE
                WHEN f.reason IS NOT NULL THEN f.reason
                WHEN count(*) FILTER (WHERE f.fits) OVER (
                    PARTITION BY f.debtor_id ORDER BY f.account_id
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                ) > 0 OR served.yes THEN %s
                WHEN NOT f.fits THEN %s
            END AS outcome
            FROM fit f
            -- The debtor's message in an earlier chunk of the batch: for each
            -- of the debtor's accounts, one probe of the (batch, account)
            -- index. Written so that no plan can read the batch's messages
            -- otherwise: as a join or an EXISTS, the planner (whose statistics
            -- were taken before the batch, and say it has no message) hashed,
            -- or walked for every account, every message the batch had made so
            -- far, and each chunk took longer than the one before.
            LEFT JOIN LATERAL (
                SELECT true AS yes FROM accounts_account ma
                WHERE ma.debtor_id = f.debtor_id AND (
                    SELECT true FROM communications_message m
                    WHERE m.bulk_operation_id = %s AND m.account_id = ma.id
                    LIMIT 1
                )
                LIMIT 1
            ) served ON true
        ),
        inserted AS (
            INSERT INTO communications_message (
                company_id, account_id, channel, template_version_id, "to", subject, text, html,
                state, send_after, rule, reason, provider_id, error, attempts, ignore_rate_limit,
                ignore_contact_preferences, created_by_id, bulk_operation_id, created_at,
                state_changed_at, sent_at
            )
            SELECT COALESCE(%s, d.company_id), d.account_id, %s, %s, d.to_address, d.subject,
                   d.text, d.html, 'queued', %s, '', '', '', '', 0, %s, %s, %s, %s, %s, %s, NULL
            FROM decided d WHERE d.outcome IS NULL
            ORDER BY d.account_id
            RETURNING 1
        )
        SELECT account_id, outcome FROM decided
    """
    params += [SAME_DEBTOR, TOO_LONG, bulk_operation.pk if bulk_operation is not None else None]
    params += [
        sender_company_id,
        content.channel,
        content.version_id,
        send_after,
        ignore_rate_limit,
        ignore_contact_preferences,
        created_by.pk if created_by is not None else None,
        bulk_operation.pk if bulk_operation is not None else None,
        now,
        now,
    ]
    outcomes = Outcomes()
    with connection.cursor() as cursor:
        # Compiling the statement (JIT) costs more than it saves on a chunk's
        # few thousand rows, every chunk; and the chunk's filled-in messages
        # are sorted in memory rather than on disk.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        found = cursor.fetchall()
    for account_id, outcome in found:
        if outcome:
            outcomes.skip([account_id], outcome)
    outcomes.skip(set(account_ids) - {row[0] for row in found}, NO_ACCOUNT)
    return outcomes
