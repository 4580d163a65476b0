"""The account page's Save (seed 004): the debtor's address, email addresses
and phone numbers, and the account's custom field values, edited in place.

The page carries a fingerprint of the values it showed; Save recomputes it
under a lock and refuses, changing nothing, when someone changed them since
("the account changed since the page was loaded"). Every value is checked
(an E.164 number, an email address, a ZIP code, a custom field by its type);
one bad value refuses the whole save. One audit event records every change,
contact points masked (the rows hold the values; the trail says what moved)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.masking import mask_email, mask_phone
from accounts.models import Account, CustomField, CustomFieldValue, Debtor, DebtorEmail, DebtorPhone
from accounts.selectors import (
    accounts_visible_to,
    configuration_visible_to,
    contact_points_of,
)
from accounts.states import STATE_CHOICES
from bulkops.services import record_audit_event

CONTACTS_PERMISSION = "accounts.work_account"
CUSTOM_PERMISSION = "accounts.change_account"
ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "state", "postal_code")
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_STATES = {code for code, _ in STATE_CHOICES}
_YES, _NO = {"yes", "true", "1", "on"}, {"no", "false", "0", "off"}


def custom_fields_of(user) -> list[CustomField]:
    """The active custom fields the user is offered (read once a request)."""
    cached = getattr(user, "_custom_fields", None)
    if cached is None:
        cached = list(
            configuration_visible_to(user, CustomField)
            .filter(is_active=True)
            .order_by("name", "pk")
        )
        user._custom_fields = cached
    return cached


def custom_values_of(account: Account) -> dict[int, str]:
    """{custom field id: value} of the account, read once for everything
    one page of it shows (kept on ``account``)."""
    cached = getattr(account, "_custom_values", None)
    if cached is None:
        cached = dict(
            CustomFieldValue.objects.filter(account=account).values_list("field_id", "value")
        )
        account._custom_values = cached
    return cached


def current_values(account: Account, fields: list[CustomField], *, fresh: bool = False) -> dict:
    """What Save may change, as it is now (``fresh``: read again, not from
    what the page already loaded)."""
    if fresh:
        debtor = Debtor.objects.get(pk=account.debtor_id)
        emails = DebtorEmail.objects.filter(debtor_id=debtor.pk)
        phones = DebtorPhone.objects.filter(debtor_id=debtor.pk)
    else:
        debtor = account.debtor
        emails, phones = contact_points_of(account)
    if fresh:
        custom = dict(
            CustomFieldValue.objects.filter(account=account, field__in=fields).values_list(
                "field_id", "value"
            )
        )
    else:
        custom = custom_values_of(account)
    return {
        "address": {name: getattr(debtor, name) for name in ADDRESS_FIELDS},
        "emails": {str(e.pk): e.address for e in emails},
        "phones": {str(p.pk): p.number for p in phones},
        "custom": {str(f.pk): custom.get(f.pk, "") for f in fields},
    }


def fingerprint(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:32]


def clean_custom_value(field: CustomField, raw: str) -> str:
    """A custom field's value as stored, checked by its type ("" clears it)."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    kind = field.field_type
    if kind == CustomField.FieldType.NUMBER:
        try:
            number = Decimal(raw.replace(",", ""))
        except InvalidOperation:
            raise ValidationError(f"{field.name}: enter a number.") from None
        if not number.is_finite():
            raise ValidationError(f"{field.name}: enter a number.")
        return format(number.normalize(), "f")
    if kind == CustomField.FieldType.DATE:
        try:
            return dt.date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValidationError(f"{field.name}: enter a date as YYYY-MM-DD.") from None
    if kind == CustomField.FieldType.BOOLEAN:
        if raw.lower() in _YES:
            return "yes"
        if raw.lower() in _NO:
            return "no"
        raise ValidationError(f"{field.name}: answer yes or no.")
    if kind == CustomField.FieldType.CHOICE:
        if raw not in field.choice_list:
            raise ValidationError(f"{field.name}: choose one of the options offered.")
        return raw
    if len(raw) > 500:
        raise ValidationError(f"{field.name}: at most 500 characters.")
    return raw


def _clean_address(address: dict) -> dict:
    cleaned = {name: " ".join((address.get(name) or "").split()) for name in ADDRESS_FIELDS}
    cleaned["state"] = cleaned["state"].upper()
    errors = []
    if cleaned["state"] and cleaned["state"] not in _STATES:
        errors.append(f"{cleaned['state']} is not a US state.")
    if cleaned["postal_code"] and not ZIP.match(cleaned["postal_code"]):
        errors.append("The ZIP code is five digits (or ZIP+4).")
    for name, limit in (("address_line1", 200), ("address_line2", 200), ("city", 100)):
        if len(cleaned[name]) > limit:
            errors.append(f"The {name.replace('_', ' ')} has at most {limit} characters.")
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_contacts(posted: dict, current: dict, kind: str) -> dict:
    cleaned = {}
    for pk, value in posted.items():
        if pk not in current:
            raise ValidationError(f"That {kind} is not this account's debtor's.")
        value = (value or "").strip()
        if kind == "phone":
            value = re.sub(r"[\s().-]", "", value)
            if not E164.match(value):
                raise ValidationError(
                    f"{value or 'An empty number'} is not a number like +15555550123."
                )
        else:
            try:
                validate_email(value)
            except ValidationError:
                raise ValidationError(
                    f"{value or 'An empty address'} is not an email address."
                ) from None
        cleaned[pk] = value
    return cleaned


@transaction.atomic
def save_details(
    *,
    actor,
    account: Account,
    loaded_fingerprint: str,
    address: dict | None = None,
    emails: dict | None = None,
    phones: dict | None = None,
    custom: dict | None = None,
) -> dict:
    """Save what changed; returns the changes (empty: nothing to save)."""
    if not actor.has_perm(CONTACTS_PERMISSION):
        raise PermissionDenied("Your role may not edit this account.")
    if not accounts_visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("That account is not available to you.")
    if custom and not actor.has_perm(CUSTOM_PERMISSION):
        raise PermissionDenied("Your role may only view the custom fields.")
    Debtor.objects.select_for_update().filter(pk=account.debtor_id).first()
    Account.objects.select_for_update().filter(pk=account.pk).first()
    fields = custom_fields_of(actor)
    now = current_values(account, fields, fresh=True)
    if fingerprint(now) != loaded_fingerprint:
        raise ValidationError(
            "This account was changed by someone else since you loaded the page: "
            "nothing was saved. Reload it to see the changes."
        )
    changes: dict[str, tuple] = {}
    if address is not None:
        new_address = _clean_address(address)
        moved = {k: v for k, v in new_address.items() if v != now["address"][k]}
        if moved:
            Debtor.objects.filter(pk=account.debtor_id).update(**moved)
            changes.update({k: (now["address"][k], v) for k, v in moved.items()})
    for kind, model, field, mask, posted in (
        ("email", DebtorEmail, "address", mask_email, emails),
        ("phone", DebtorPhone, "number", mask_phone, phones),
    ):
        current = now[f"{kind}s"]
        for pk, value in _clean_contacts(posted or {}, current, kind).items():
            if value != current[pk]:
                model.objects.filter(pk=int(pk)).update(**{field: value})
                changes[f"{kind} {pk}"] = (mask(current[pk]), mask(value))
    if custom:
        by_id = {str(f.pk): f for f in fields}
        for pk, raw in custom.items():
            if pk not in by_id:
                raise ValidationError("That custom field is not offered to you.")
            value = clean_custom_value(by_id[pk], raw)
            if value != now["custom"][pk]:
                CustomFieldValue.objects.update_or_create(
                    account=account, field=by_id[pk], defaults={"value": value}
                )
                changes[f"custom: {by_id[pk].name}"] = (now["custom"][pk], value)
    if changes:
        record_audit_event(
            actor=actor, action="account.details_edited", obj=account, changes=changes
        )
    return changes
