"""Reads of the communications app, scoped to the user's company."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from accounts.masking import mask_email, mask_phone
from bulkops.models import BulkOperation
from bulkops.selectors import operations_visible_to
from communications.models import (
    Channel,
    Message,
    MessageEvent,
    MessageState,
    MessageTemplate,
    rule_label,
)


def templates_visible_to(user) -> QuerySet[MessageTemplate]:
    """The user's company's templates (every company's for the platform
    operator); never another company's."""
    if user is None or not user.is_authenticated:
        return MessageTemplate.objects.none()
    queryset = MessageTemplate.objects.select_related("company", "updated_by")
    if user.is_superuser:
        return queryset
    return queryset.filter(company_id=user.company_id)


# --- message batches and their messages (the Messages pages) ------------------------

# The bulk actions whose operations send messages: each such operation is a
# batch on the Messages page.
BATCH_KINDS = ("schedule_emails", "schedule_text_messages", "send_message", "send_debtor_message")
# The channel a batch sends on, for the kinds that have one (Send Message
# keeps its own in its parameters).
KIND_CHANNELS = {"schedule_emails": Channel.EMAIL, "schedule_text_messages": Channel.SMS}
# Messages still on their way: the batch page refreshes its counts while any is.
PENDING_STATES = (MessageState.QUEUED, MessageState.HELD, MessageState.SENDING)
# Messages a batch's Cancel stops: not handed to a provider yet.
CANCELLABLE_STATES = (MessageState.QUEUED, MessageState.HELD)
ACCOUNT_MESSAGES = 20


def batches_visible_to(user) -> QuerySet[BulkOperation]:
    """The message batches of the user's company (every company's for the
    platform operator): its bulk operations that send messages."""
    return operations_visible_to(user).filter(kind__in=BATCH_KINDS)


def messages_visible_to(user) -> QuerySet[Message]:
    """The messages of the user's company, and those of its own batches
    (every message for the platform operator); never another company's."""
    if user is None or not user.is_authenticated:
        return Message.objects.none()
    if user.is_superuser:
        return Message.objects.all()
    if user.company_id is None:
        return Message.objects.none()
    return Message.objects.filter(
        Q(company_id=user.company_id) | Q(bulk_operation__company_id=user.company_id)
    )


def batch_messages(operation: BulkOperation) -> QuerySet[Message]:
    """A batch's messages (the batch is already one the user may see)."""
    return Message.objects.filter(bulk_operation=operation)


def batch_send_time(operation: BulkOperation) -> dt.datetime | None:
    """When the batch was asked to be sent (its ``send_at``), None if never."""
    value = (operation.parameters or {}).get("send_at")
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def batch_channel(operation: BulkOperation) -> str:
    """The channel a batch sends on, as far as its kind and parameters say."""
    channel = KIND_CHANNELS.get(operation.kind) or (operation.parameters or {}).get("channel")
    return channel if channel in Channel.values else ""


@dataclass(frozen=True)
class StateCounts:
    """How many messages of a batch are in each state."""

    by_state: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_state.values())

    @property
    def rows(self) -> list[tuple[str, str, int]]:
        """(state, label, count) of every state some message is in, in the
        order of a message's life."""
        return [
            (state.value, state.label, self.by_state[state.value])
            for state in MessageState
            if self.by_state.get(state.value)
        ]

    def of(self, state: str) -> int:
        return self.by_state.get(state, 0)

    @property
    def pending(self) -> int:
        return sum(self.of(state) for state in PENDING_STATES)

    @property
    def cancellable(self) -> int:
        return sum(self.of(state) for state in CANCELLABLE_STATES)

    @property
    def unknown(self) -> int:
        return self.of(MessageState.UNKNOWN)

    @property
    def held(self) -> int:
        return self.of(MessageState.HELD)


def state_counts_by_batch(operation_ids) -> dict[int, tuple[StateCounts, list[str]]]:
    """For each batch, its messages' counts per state and the channels they
    are on: one aggregate query for a whole page of batches."""
    ids = [int(pk) for pk in operation_ids]
    counts: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    channels: dict[int, set[str]] = {pk: set() for pk in ids}
    if ids:
        rows = (
            Message.objects.filter(bulk_operation_id__any=ids)
            .values_list("bulk_operation_id", "channel", "state")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for operation_id, channel, state, n in rows:
            by_state = counts[operation_id]
            by_state[state] = by_state.get(state, 0) + n
            channels[operation_id].add(channel)
    return {pk: (StateCounts(counts[pk]), sorted(channels[pk])) for pk in ids}


def batch_state_counts(operation: BulkOperation) -> StateCounts:
    rows = batch_messages(operation).values_list("state").annotate(n=Count("pk")).order_by()
    return StateCounts(dict(rows))


@dataclass
class RuleCount:
    """The held or suppressed messages of one rule, with its most frequent
    reasons (a rule's reason names the zones, the date, ...)."""

    state: str
    rule: str
    count: int = 0
    reasons: list[tuple[str, int]] = field(default_factory=list)

    @property
    def rule_label(self) -> str:
        return rule_label(self.rule) if self.rule else "No rule recorded"


REASONS_PER_RULE = 5


def batch_rule_counts(operation: BulkOperation) -> dict[str, list[RuleCount]]:
    """The held and the suppressed messages of a batch counted by the rule
    that held or suppressed them (most first), each with its most frequent
    reasons: one aggregate query."""
    rows = (
        batch_messages(operation)
        .filter(state__in=[MessageState.HELD, MessageState.SUPPRESSED])
        .values_list("state", "rule", "reason")
        .annotate(n=Count("pk"))
        .order_by("state", "rule", "-n", "reason")
    )
    by_rule: dict[tuple[str, str], RuleCount] = {}
    for state, rule, reason, n in rows:
        line = by_rule.setdefault((state, rule), RuleCount(state, rule))
        line.count += n
        if len(line.reasons) < REASONS_PER_RULE:
            line.reasons.append((reason, n))
    found: dict[str, list[RuleCount]] = {MessageState.HELD: [], MessageState.SUPPRESSED: []}
    for line in sorted(by_rule.values(), key=lambda line: (-line.count, line.rule)):
        found[line.state].append(line)
    return found


def message_events(message: Message) -> QuerySet[MessageEvent]:
    """What happened to a message, oldest first."""
    return message.events.order_by("occurred_at", "pk")


def account_messages(user, account) -> dict:
    """The account page's Messages section: its latest messages."""
    latest = (
        messages_visible_to(user)
        .filter(account=account)
        .order_by("-created_at", "-pk")[:ACCOUNT_MESSAGES]
    )
    return {"account_messages": latest, "account_messages_limit": ACCOUNT_MESSAGES}


def recipient_as_seen(value: str, unmasked: bool = False) -> str:
    """A message's email address or phone number as a user may see it:
    masked unless they hold accounts.view_unmasked_data."""
    if unmasked or not value:
        return value
    return mask_email(value) if "@" in value else mask_phone(value)
