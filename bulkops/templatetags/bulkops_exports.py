from django import template

from bulkops.exports.downloads import download_state

register = template.Library()


@register.simple_tag
def export_download(operation, user):
    """Whether ``user`` may download the operation's export file, and why not."""
    return download_state(user, operation)
