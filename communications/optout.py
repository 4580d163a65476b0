"""The opt-out link every email carries (Regulation F, 12 CFR 1006.6(e)).

Each email has its own link, ``/optout/<token>/``: the token is the
message's id signed with the project's secret key and the time it was
made (``TimestampSigner``), so the link works without a login, cannot be
made up for another message, and stops working after
``OPT_OUT_LINK_MAX_AGE_DAYS``. A message is filled in when it is queued,
partly inside the database where nothing can be signed, so the message
keeps ``OPT_OUT_LINK_MARKER`` where its link goes and the dispatch puts
the signed URL there when it sends it (``url_for``).

``record_email_opt_out`` is what following the link does: the debtor's
addresses equal to the message's are opted out, and the emails still
waiting to go to that address are suppressed, in one transaction with the
audit record. It is idempotent: a second time changes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import DebtorEmail
from bulkops.services import record_audit_event_about
from communications.models import Channel, Message, MessageEvent, MessageState

SALT = "communications.optout"
# What the link records as the opt-out's source (``email_opt_out_source``).
LINK_SOURCE = "Opt-out link"
# The rule a suppressed message names: the gate's own for an opted-out address.
RULE = "opt_out"


class LinkExpired(Exception):
    """A genuine opt-out token older than ``OPT_OUT_LINK_MAX_AGE_DAYS``;
    ``message`` is the email it came with (None once that is deleted), so
    that the page can name who sent it."""

    def __init__(self, message: Message | None):
        super().__init__("This opt-out link has expired.")
        self.message = message


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def token_for(message: Message) -> str:
    """The signed token of ``message``'s opt-out link."""
    return _signer().sign(str(message.pk))


def _email(pk: str) -> Message | None:
    return (
        Message.objects.select_related("company", "account")
        .filter(pk=int(pk), channel=Channel.EMAIL)
        .first()
    )


def message_for(token: str) -> Message | None:
    """The email whose link carries ``token``; None for a token that is not
    one of ours (changed, cut short, made up) or whose email no longer
    exists. Raises ``LinkExpired`` for a genuine token past its age."""
    signer = _signer()
    try:
        pk = signer.unsign(token, max_age=dt.timedelta(days=settings.OPT_OUT_LINK_MAX_AGE_DAYS))
    except signing.SignatureExpired:
        # The signature is good, only old: say whose email it was.
        raise LinkExpired(_email(signer.unsign(token))) from None
    except signing.BadSignature:
        return None
    return _email(pk)


def url_for(message: Message) -> str:
    """The absolute URL of ``message``'s opt-out link, as the recipient's
    mail client reaches this app (``PUBLIC_URL``)."""
    path = reverse("optout", args=[token_for(message)])
    return settings.PUBLIC_URL.rstrip("/") + path


@dataclass(frozen=True)
class OptOut:
    """What one ``record_email_opt_out`` changed: the debtor's addresses it
    opted out and the waiting emails it suppressed (both 0 the second time)."""

    addresses: int
    suppressed: int


@transaction.atomic
def record_email_opt_out(*, message: Message, source: str) -> OptOut:
    """The debtor of ``message`` opts out of email at the address it was
    sent to: each of their addresses equal to it (case-insensitively) is
    marked opted out with the moment and ``source`` (the link's, or another
    way the debtor said so), and every email still queued or held for that
    address to one of the debtor's accounts is suppressed under the gate's
    ``opt_out`` rule, set-based, each with its event. Audited per address,
    in the sending company, with no user as actor (the debtor did it).
    Idempotent: what is already opted out or suppressed is left alone."""
    now = timezone.now()
    debtor_id = message.account.debtor_id
    addresses = list(
        DebtorEmail.objects.select_for_update()
        .filter(debtor_id=debtor_id, address__iexact=message.to, email_opted_out=False)
        .order_by("pk")
        .values_list("pk", "email_opted_out_at", "email_opt_out_source")
    )
    source = source[: DebtorEmail._meta.get_field("email_opt_out_source").max_length]
    if addresses:
        DebtorEmail.objects.filter(pk__in=[pk for pk, _, _ in addresses]).update(
            email_opted_out=True, email_opted_out_at=now, email_opt_out_source=source
        )
    for pk, opted_out_at, previous_source in addresses:
        record_audit_event_about(
            actor=None,
            action="debtor_email.opted_out",
            object_type=DebtorEmail._meta.label_lower,
            object_id=pk,
            changes={
                "email_opted_out": (False, True),
                "email_opted_out_at": (opted_out_at, now),
                "email_opt_out_source": (previous_source, source),
                "message": (None, message.pk),
            },
            company_id=message.company_id,
        )
    waiting = list(
        Message.objects.select_for_update(of=("self",))
        .filter(
            account__debtor_id=debtor_id,
            channel=Channel.EMAIL,
            to__iexact=message.to,
            state__in=[MessageState.QUEUED, MessageState.HELD],
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if waiting:
        reason = f"The debtor opted out of Email ({source})."[:255]
        Message.objects.filter(pk__in=waiting).update(
            state=MessageState.SUPPRESSED, state_changed_at=now, rule=RULE, reason=reason
        )
        MessageEvent.objects.bulk_create(
            MessageEvent(
                message_id=pk, state=MessageState.SUPPRESSED, detail=reason, occurred_at=now
            )
            for pk in waiting
        )
    return OptOut(addresses=len(addresses), suppressed=len(waiting))
