"""Edit Layout (seed 004): which widgets the Account Details tab shows, in
which order and width. A user's own layout, else their company's default
(set by an admin), else every widget they may see in the registry's order.

A layout comes from the browser as JSON, so everything in it is checked:
known widgets the user may see, allowed widths, no widget twice, custom
widgets with a label and the company's own custom fields. A bad layout is
refused whole with the reason; nothing is saved."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import AccountPageLayout, CustomField
from accounts.sections import AccountSection, sections_for
from accounts.selectors import configuration_visible_to
from bulkops.services import record_audit_event

WIDTHS = {4: "One third", 6: "Half", 8: "Two thirds", 12: "Full width"}
MAX_WIDGETS, MAX_LABEL, MAX_CUSTOM_FIELDS = 30, 60, 20
DEFAULT_PERMISSION = "accounts.change_accountpagelayout"


@dataclass(frozen=True)
class Widget:
    """One widget of a layout: a registered section, or a custom widget
    (a label and custom fields)."""

    key: str  # the section's key, or "custom-N"
    width: int
    section: AccountSection | None = None
    label: str = ""
    field_ids: tuple[int, ...] = ()

    @property
    def title(self) -> str:
        return self.section.title if self.section else self.label

    def as_json(self) -> dict:
        if self.section:
            return {"key": self.key, "width": self.width}
        return {"label": self.label, "fields": list(self.field_ids), "width": self.width}


def available_widgets(user) -> dict[str, AccountSection]:
    """The predefined widgets ``user`` may see, by key, in registry order."""
    return {s.key: s for s in sections_for(user, "details")}


def _stored(user) -> list | None:
    """The user's own layout, else their company's default, else None."""
    if not user.is_authenticated or user.company_id is None:
        return None
    rows = dict(
        AccountPageLayout.objects.filter(company_id=user.company_id)
        .filter(Q(user=user) | Q(user__isnull=True))
        .values_list("user_id", "widgets")
    )
    return rows.get(user.pk, rows.get(None))


def layout_for(user) -> list[Widget]:
    """The widgets the user's Account Details tab shows, in order. A stored
    layout naming a widget the user may no longer see (or that no longer
    exists) simply leaves it out."""
    available = available_widgets(user)
    stored = _stored(user)
    if stored is None:
        return [Widget(key=k, width=s.width, section=s) for k, s in available.items()]
    widgets = []
    for n, item in enumerate(stored):
        if "key" in item:
            section = available.get(item["key"])
            if section is not None:
                widgets.append(Widget(key=section.key, width=item["width"], section=section))
        else:
            widgets.append(
                Widget(
                    key=f"custom-{n}",
                    width=item["width"],
                    label=item["label"],
                    field_ids=tuple(item["fields"]),
                )
            )
    return widgets


def hidden_widgets(user, layout: list[Widget]) -> list[AccountSection]:
    """The predefined widgets not on the page (Add widget > Predefined)."""
    shown = {w.key for w in layout}
    return [s for k, s in available_widgets(user).items() if k not in shown]


def parse_layout(user, text: str) -> list[dict]:
    """A layout posted by the browser, checked; raises ValidationError."""
    try:
        items = json.loads(text or "")
    except ValueError:
        raise ValidationError("The layout could not be read: reload the page.") from None
    if not isinstance(items, list) or not items:
        raise ValidationError("A layout has at least one widget.")
    if len(items) > MAX_WIDGETS:
        raise ValidationError(f"A layout has at most {MAX_WIDGETS} widgets.")
    available = available_widgets(user)
    own_fields = set(
        configuration_visible_to(user, CustomField)
        .filter(is_active=True)
        .values_list("pk", flat=True)
    )
    seen, checked = set(), []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationError("The layout could not be read: reload the page.")
        width = item.get("width")
        if width not in WIDTHS:
            raise ValidationError(f"{width!r} is not a width a widget may have.")
        if "key" in item:
            key = item["key"]
            if key not in available:
                raise ValidationError(f"There is no widget {str(key)[:40]!r} you may show.")
            if key in seen:
                raise ValidationError(f"The widget {available[key].title} is on the page twice.")
            seen.add(key)
            checked.append({"key": key, "width": width})
        else:
            checked.append(_custom(item, width, own_fields))
    return checked


def _custom(item: dict, width: int, own_fields: set[int]) -> dict:
    label = item.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ValidationError("A custom widget needs a label.")
    label = " ".join(label.split())
    if len(label) > MAX_LABEL:
        raise ValidationError(f"A widget's label has at most {MAX_LABEL} characters.")
    fields = item.get("fields")
    if not isinstance(fields, list) or not fields:
        raise ValidationError(f"Choose the custom fields the widget {label} shows.")
    if len(fields) > MAX_CUSTOM_FIELDS:
        raise ValidationError(f"A widget shows at most {MAX_CUSTOM_FIELDS} custom fields.")
    if not all(isinstance(f, int) and f in own_fields for f in fields):
        raise ValidationError(f"The widget {label} names a custom field you are not offered.")
    return {"label": label, "fields": list(dict.fromkeys(fields)), "width": width}


@transaction.atomic
def save_layout(*, actor, widgets: list[dict], company_default: bool = False) -> AccountPageLayout:
    """Keep ``widgets`` (checked by ``parse_layout``) as the actor's layout,
    or, for an admin, as their company's default."""
    if actor.company_id is None:
        raise PermissionDenied("Only a company's users keep a layout.")
    if company_default and not actor.has_perm(DEFAULT_PERMISSION):
        raise PermissionDenied("Only an admin sets the company's default layout.")
    user = None if company_default else actor
    layout, created = AccountPageLayout.objects.select_for_update().get_or_create(
        company_id=actor.company_id, user=user, defaults={"widgets": widgets}
    )
    before = None if created else layout.widgets
    if not created:
        layout.widgets, layout.updated_at = widgets, timezone.now()
        layout.save(update_fields=["widgets", "updated_at"])
    record_audit_event(
        actor=actor,
        action="account_page_layout.saved",
        obj=layout,
        changes={"widgets": (before, widgets)},
    )
    return layout


@transaction.atomic
def reset_layout(*, actor) -> bool:
    """Forget the actor's own layout (back to the company's default)."""
    deleted, _ = AccountPageLayout.objects.filter(user=actor).delete()
    return bool(deleted)
