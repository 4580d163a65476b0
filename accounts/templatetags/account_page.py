"""``{% render_widget item %}``: a widget (or a tab's section) of the account
page, drawn inside the page's own template context with the widget's
context pushed on top. One render of the page, so the context processors
run once, not once a widget."""

from django import template
from django.template.loader import get_template

register = template.Library()


@register.simple_tag(takes_context=True)
def render_widget(context, item):
    """``item`` has ``template`` (a name) and ``context`` (a dict)."""
    compiled = get_template(item.template).template
    with context.push(**item.context):
        return compiled.render(context)
