"""Communications' events in the account's Diary: each message queued for
the account, with its state and a link to it (recipients masked as
elsewhere)."""

from __future__ import annotations

from django.urls import reverse

from accounts.diary import DiaryEntry, DiarySource, register_diary_source
from communications.models import Message
from communications.selectors import recipient_as_seen


def _describe_messages(user, ids):
    unmasked = user.has_perm("accounts.view_unmasked_data")
    messages = Message.objects.filter(pk__in=ids)
    return {
        m.pk: DiaryEntry(
            title=f"{m.get_channel_display()} to {recipient_as_seen(m.to, unmasked)}"
            f" ({m.get_state_display().lower()})",
            detail=m.subject or m.reason,
            url=reverse("messages:message", args=[m.pk]),
            link_text="Open the message",
            operation_id=m.bulk_operation_id,
        )
        for m in messages
    }


register_diary_source(
    DiarySource(
        key="message",
        label="Message",
        model=Message,
        at="created_at",
        actor="created_by_id",
        describe=_describe_messages,
        permission="communications.view_message",
        order=30,
    )
)
