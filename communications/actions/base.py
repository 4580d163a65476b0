"""What the message-sending bulk actions share (Schedule Emails, Schedule
Text Messages, Send Message): a send time within 35 days, the approval rule
(seed 000: a user who may not send sees "Send for Approval" and the batch
waits for a supervisor), the run-at time, sample messages for the approver
and the batch's result."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.utils import timezone

from bulkops.registry import BulkAction, Outcomes
from communications import gate, services, sms
from communications.models import Channel, Message, rule_label

MAX_DAYS_AHEAD = 35
PAST_SLACK = dt.timedelta(minutes=5)  # "now", typed a moment ago
SAMPLES = 3  # rendered messages shown to the approver
SAMPLE_LOOK_AHEAD = 50  # snapshot rows tried to find them


class SendAtField(forms.DateTimeField):
    """A send date and time: not in the past, at most 35 days ahead."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Send date and time")
        kwargs.setdefault("input_formats", ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
        super().__init__(**kwargs)

    def clean(self, value):
        send_at = super().clean(value)
        if send_at is None:
            return send_at
        now = timezone.now()
        if send_at < now - PAST_SLACK:
            raise forms.ValidationError("The send time has passed; choose a later one.")
        if send_at > now + dt.timedelta(days=MAX_DAYS_AHEAD):
            raise forms.ValidationError(f"Choose a send time within {MAX_DAYS_AHEAD} days.")
        return send_at


def now_for_input():
    return timezone.localtime().replace(second=0, microsecond=0)


def problem_sentence(problems: dict[str, list[str]]) -> str:
    """A content's problems (``Content.problems``, by field) as one text,
    each said once."""
    return " ".join(dict.fromkeys(p for found in problems.values() for p in found))


def unsendable(template) -> str:
    """Why a template cannot be sent as it is ("" when it can): one saved
    before a rule it breaks (the opt-out every message carries), which its
    next save will have to fix."""
    problems = services.template_problems(
        template.channel, {field: getattr(template, field) for field in template.content_fields}
    )
    if not problems:
        return ""
    return (
        f"“{template.name}” cannot be sent as it is: {problem_sentence(problems)} "
        "Edit the template first."
    )


class MessageAction(BulkAction):
    """A bulk action whose operation is a batch of messages."""

    target = "accounts"
    group = "Communications"
    permission = "communications.schedule_messages"
    approval_permission = "communications.approve_message"
    approval_template = "communications/_approval_samples.html"
    result_template = "communications/_batch_result.html"
    # One statement fills a chunk's messages in (PostgreSQL): large chunks
    # spend less on each chunk's commit and bookkeeping.
    chunk_size = 10000
    done_word = "queued"
    changes_accounts = False  # it adds messages; it changes no account
    grows = ("communications.Message",)
    channel = ""  # the channel, for an action of one

    def confirm_label_for(self, user):
        if user.has_perm("communications.process_messages"):
            return self.confirm_label
        return "Send for Approval"

    def approval_needed(self, user, parameters, count, *, operation):
        if user.has_perm("communications.process_messages"):
            return ""
        return f"Its sender may not send {self.what_it_sends(parameters)} without approval."

    def what_it_sends(self, parameters) -> str:
        channel = parameters.get("channel") or self.channel
        return {Channel.EMAIL: "emails", Channel.SMS: "text messages", Channel.VOICE: "calls"}[
            channel
        ]

    def run_at(self, parameters):
        send_at = parameters.get("send_at")
        if not send_at:
            return None
        send_at = dt.datetime.fromisoformat(send_at)
        return send_at if send_at > timezone.now() else None

    def send_after(self, operation):
        send_at = operation.parameters.get("send_at")
        return dt.datetime.fromisoformat(send_at) if send_at else operation.created_at

    def content(self, parameters) -> services.Content:
        raise NotImplementedError

    def approval_refusal(self, operation):
        """A batch whose message breaks a rule made since it was confirmed
        (a template version without the opt-out, say) is not approved."""
        try:
            problems = self.content(operation.parameters).problems()
        except ObjectDoesNotExist:
            return "Its template no longer exists. Reject it."
        if not problems:
            return ""
        return (
            f"Its message cannot be sent: {problem_sentence(problems)} "
            "Reject it and send it again once the message is corrected."
        )

    def apply(self, items, operation):
        content = self.content(operation.parameters)
        problems = content.problems()
        if problems:
            # Confirmed before a rule it breaks: each row fails, saying why
            # (``queue_messages`` would refuse the whole chunk).
            return Outcomes.all_failed(
                items.target_ids, f"The message cannot be sent: {problem_sentence(problems)}"
            )
        return services.queue_messages(
            account_ids=items.target_ids,
            content=content,
            send_after=self.send_after(operation),
            bulk_operation=operation,
            actor=operation.created_by,
            claim_id=operation.parameters.get("claim"),
            ignore_rate_limit=bool(operation.parameters.get("ignore_max_per_minute")),
            ignore_contact_preferences=bool(operation.parameters.get("ignore_contact_preferences")),
        )

    def preview_context(self, form, *, user, selection):
        return check_messages(self, self.parameters(form), user=user, selection=selection)

    def approval_context(self, operation):
        """Messages as they will go, filled in for the first recipients of
        the snapshot, and the first reasons some get none."""
        ids = list(
            operation.items.order_by("target_id").values_list("target_id", flat=True)[
                :SAMPLE_LOOK_AHEAD
            ]
        )
        rendered = services.render_for_accounts(
            accounts=services.accounts_for_messages(ids),
            content=self.content(operation.parameters),
            claim_id=operation.parameters.get("claim"),
        )
        return {
            "samples": [r for r in rendered if not r.reason][:SAMPLES],
            "skipped": [r for r in rendered if r.reason][:SAMPLES],
            "looked_at": len(ids),
        }


# The confirmation checks this many selected accounts itself; the others are
# checked the same way when their message is queued, and skipped likewise.
CHECK_AT_MOST = 5000
LISTED = 50


def check_messages(action, parameters, *, user, selection) -> dict:
    """The verification step: the messages filled in for the selected
    accounts (up to CHECK_AT_MOST), how many go, and who gets none and why
    (an SMS too long once filled in, no consent...), listed."""
    ids = list(
        selection.resolve(user).order_by("pk").values_list("pk", flat=True)[: CHECK_AT_MOST + 1]
    )
    partial = len(ids) > CHECK_AT_MOST
    ids = ids[:CHECK_AT_MOST]
    try:
        content = action.content(parameters)
    except (ValidationError, ObjectDoesNotExist):
        return {"problem": "The message can no longer be filled in; go back and check it."}
    rendered = services.render_for_accounts(
        accounts=services.accounts_for_messages(ids),
        content=content,
        claim_id=parameters.get("claim"),
    )
    going = [r for r in rendered if not r.reason]
    skipped = [r for r in rendered if r.reason]
    reasons: dict[str, int] = {}
    for row in skipped:
        reasons[row.reason] = reasons.get(row.reason, 0) + 1
    measures = [sms.measure(r.text) for r in going] if content.channel == Channel.SMS else []
    held, suppressed = contact_rule_counts(
        action, parameters, going, channel=content.channel, user=user
    )
    return {
        "send_at": action.run_at(parameters),
        "held": held,
        "suppressed": suppressed,
        "held_total": sum(row["count"] for row in held),
        "suppressed_total": sum(row["count"] for row in suppressed),
        "checked": len(ids),
        "partial": partial,
        "going": len(going),
        "skipped": len(skipped),
        "samples": going[:3],
        "reasons": sorted(reasons.items(), key=lambda kv: -kv[1]),
        "too_long": [r for r in skipped if r.reason == services.TOO_LONG][:LISTED],
        "longest": max((m.characters for m in measures), default=0),
        "segments": max((m.segments for m in measures), default=0),
        "channel": content.channel,
    }


def contact_rule_counts(
    action, parameters, going, *, channel: str, user
) -> tuple[list[dict], list[dict]]:
    """What the contact rules would do with the checked messages at their
    send moment: (held, suppressed), each a row per rule with its count and
    one of its reasons. The gate asks again when each one is sent."""
    send_at = action.run_at(parameters) or timezone.now()
    ignore = bool(parameters.get("ignore_contact_preferences"))
    messages = [
        Message(
            company_id=user.company_id or row.account.company_id,
            account=row.account,
            channel=channel,
            to=row.to,
            ignore_contact_preferences=ignore,
        )
        for row in going
    ]
    counts: dict[tuple[str, str], dict] = {}
    for decision in gate.preview(messages, now=send_at):
        if decision.action == gate.SEND:
            continue
        row = counts.setdefault(
            (decision.action, decision.rule),
            {"rule": decision.rule, "label": rule_label(decision.rule), "count": 0,
             "example": decision.reason},
        )  # fmt: skip
        row["count"] += 1
    rows = sorted(counts.items(), key=lambda kv: -kv[1]["count"])
    return (
        [row for (what, _), row in rows if what == gate.DEFER],
        [row for (what, _), row in rows if what == gate.SUPPRESS],
    )
