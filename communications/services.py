"""Writes of the communications app, each in a transaction with its audit
record."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account, ContactPoint, DebtorEmail
from billing.models import Claim
from bulkops.registry import Outcomes
from bulkops.services import record_audit_event
from communications import rendering, sms
from communications.models import (
    CONTENT_FIELDS,
    Channel,
    Message,
    MessageTemplate,
    MessageTemplateVersion,
)
from communications.placeholders import values_for

FIELDS = ("channel", "name", "locale", "is_active", "subject", "html_body", "text_body", "body")


def template_problems(channel: str, content: dict[str, str]) -> dict[str, list[str]]:
    """Per field, why the content cannot be saved: unknown or malformed
    placeholders and tags (every field), HTML in an SMS, and what each
    channel needs."""
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


NO_EMAIL = "No email address"
EMAIL_INVALID = "Email address marked invalid"
EMAIL_OPTED_OUT = "Opted out of email"
EMAIL_NO_CONSENT = "No consent to email"
SAME_DEBTOR = "Another selected account of the same debtor gets this message"


def queue_emails(
    *, account_ids, version: MessageTemplateVersion, send_after, bulk_operation=None, actor=None
) -> Outcomes:
    """Queue one email of ``version`` to the primary email of each account's
    debtor, rendered for that account, to be sent from ``send_after``.
    Accounts whose debtor has no usable email are skipped with the reason,
    and a debtor gets one message per batch however many of their accounts
    are selected. Set-based: a handful of queries and one insert a chunk."""
    outcomes = Outcomes()
    accounts = list(
        Account.objects.filter(pk__any=list(account_ids))
        .select_related("debtor", "creditor", "assigned_to", "company")
        .order_by("pk")
    )
    outcomes.skip(set(account_ids) - {a.pk for a in accounts}, "The account no longer exists")
    debtor_ids = list({a.debtor_id for a in accounts})
    emails = {
        e.debtor_id: e
        for e in DebtorEmail.objects.filter(debtor_id__any=debtor_ids, is_primary=True)
    }
    claims: dict[int, Claim] = {}
    for claim in Claim.objects.filter(
        account_id__any=[a.pk for a in accounts], balance__gt=0
    ).order_by("account_id", "due_date", "pk"):
        claims.setdefault(claim.account_id, claim)
    served = set()
    if bulk_operation is not None:
        served = set(
            Message.objects.filter(
                bulk_operation=bulk_operation, account__debtor_id__any=debtor_ids
            ).values_list("account__debtor_id", flat=True)
        )
    rows = []
    for account in accounts:
        email = emails.get(account.debtor_id)
        reason = None
        if email is None:
            reason = NO_EMAIL
        elif email.validity == ContactPoint.Validity.INVALID:
            reason = EMAIL_INVALID
        elif email.email_opted_out:
            reason = EMAIL_OPTED_OUT
        elif not email.email_consent:
            reason = EMAIL_NO_CONSENT
        elif account.debtor_id in served:
            reason = SAME_DEBTOR
        if reason:
            outcomes.skip([account.pk], reason)
            continue
        served.add(account.debtor_id)
        values = values_for(
            {
                "account": account,
                "debtor": account.debtor,
                "claim": claims.get(account.pk),
                "company": account.company,
                "collector": account.assigned_to,
            }
        )
        rows.append(
            Message(
                company_id=account.company_id,
                account=account,
                channel=Channel.EMAIL,
                template_version=version,
                to=email.address,
                subject=rendering.render(version.subject, values),
                text=rendering.render(version.text_body, values),
                html=rendering.render(version.html_body, values, html=True),
                send_after=send_after,
                created_by=actor if actor is not None and actor.is_authenticated else None,
                bulk_operation=bulk_operation,
            )
        )
    Message.objects.bulk_create(rows, batch_size=1000)
    return outcomes
