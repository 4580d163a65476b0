"""What the engine's operation page shows of a message batch under its
result (``templates/communications/_batch_result.html``): the engine gives
the result template the operation only."""

from django import template

from communications.selectors import batch_state_counts, recipient_as_seen

register = template.Library()


@register.simple_tag
def batch_message_counts(operation):
    """The batch's messages counted per state (``StateCounts``)."""
    return batch_state_counts(operation)


@register.filter
def recipient(value: str, unmasked=False) -> str:
    """An email address or phone number as the user may see it: masked
    unless they hold accounts.view_unmasked_data (pass that permission)."""
    return recipient_as_seen(value, unmasked)
