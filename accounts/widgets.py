"""The accounts app's own widgets of the Account Details tab (seed 004):
the account, its assignment, contact details (with consent and opt-out
state), custom fields, flags and alerts, and its history. Each is a section
(``accounts.sections``) like those other apps register; ``accounts.layout``
orders them. Reads only: each context is what its template shows, masked
unless the user may see it all."""

from __future__ import annotations

from accounts import details, files
from accounts.masking import mask_email, mask_phone
from accounts.models import Account, AccountRoleAssignment
from accounts.sections import AccountSection, register_section
from accounts.selectors import account_history, active_alerts_of, contact_points_of

DETAILS_FORM = "account-details-form"


def _unmasked(user) -> bool:
    return user.has_perm("accounts.view_unmasked_data")


def can_edit_contacts(user) -> bool:
    """Numbers and addresses are edited only by who may see them whole."""
    return user.has_perm(details.CONTACTS_PERMISSION) and _unmasked(user)


def account_summary(user, account: Account) -> dict:
    return {}


def assignment(user, account: Account) -> dict:
    roles = AccountRoleAssignment.objects.filter(account=account).select_related("user")
    # Counted with the account by account_for_page; by a query of its own otherwise.
    shared_count = getattr(account, "shared_count", None)
    if shared_count is None:
        shared_count = account.shared_with.count()
    return {"roles": roles, "shared_count": shared_count}


def _channels(point, names):
    return [
        {
            "channel": label,
            "consent": getattr(point, f"{name}_consent"),
            "opted_out": getattr(point, f"{name}_opted_out"),
        }
        for name, label in names
    ]


def contact_details(user, account: Account) -> dict:
    unmasked = _unmasked(user)
    debtor = account.debtor
    emails = [
        {
            "pk": e.pk,
            "value": e.address if unmasked else mask_email(e.address),
            "validity": e.get_validity_display(),
            "channels": _channels(e, (("email", "Email"),)),
        }
        for e in contact_points_of(account)[0]
    ]
    phones = [
        {
            "pk": p.pk,
            "value": p.number if unmasked else mask_phone(p.number),
            "type": p.get_phone_type_display(),
            "validity": p.get_validity_display(),
            "note": p.validity_note,
            "changed_by": p.validity_changed_by,
            "changed_at": p.validity_changed_at,
            "channels": _channels(p, (("sms", "SMS"), ("voice", "Voice"))),
        }
        for p in contact_points_of(account)[1]
    ]
    return {
        "debtor": debtor,
        "emails": emails,
        "phones": phones,
        "edit_address": user.has_perm(details.CONTACTS_PERMISSION),
        "edit_contacts": can_edit_contacts(user),
        "details_form": DETAILS_FORM,
    }


def _custom_rows(user, account: Account, field_ids=None, fields=None) -> list[dict]:
    fields = details.custom_fields_of(user) if fields is None else fields
    if field_ids is not None:
        order = {pk: n for n, pk in enumerate(field_ids)}
        fields = sorted((f for f in fields if f.pk in order), key=lambda f: order[f.pk])
    values = details.custom_values_of(account)
    return [{"field": f, "value": values.get(f.pk, "")} for f in fields]


def custom_fields(user, account: Account) -> dict:
    return {
        "rows": _custom_rows(user, account),
        "edit_custom": user.has_perm(details.CUSTOM_PERMISSION),
        "details_form": DETAILS_FORM,
    }


def custom_widget(user, account: Account, field_ids, *, fields=None) -> dict:
    """A custom widget (Add widget > Custom): the custom fields it names."""
    return {"rows": _custom_rows(user, account, list(field_ids), fields)}


def flags_and_alerts(user, account: Account) -> dict:
    return {"flags": account.flags.all(), "alerts": active_alerts_of(account)}


def account_files(user, account: Account) -> dict:
    """The Files tab: the released files, and what is still in quarantine
    (the signature and Delete for whoever manages the quarantine)."""
    held = list(
        files.files_visible_to(user).filter(account=account).select_related("uploaded_by")[:200]
    )
    return {
        "released": [f for f in held if f.released],
        "quarantined": [f for f in held if not f.released],
        "may_upload": user.has_perm(files.UPLOAD_PERMISSION),
        "manages_quarantine": user.has_perm(files.QUARANTINE_PERMISSION),
        "max_mb": files.policy_of(account.company_id)[1] // 2**20,
    }


def history(user, account: Account) -> dict:
    return {"history": account_history(user, account)}


for _section in (
    AccountSection(
        "account", "Account", "accounts/widgets/_account.html", account_summary, order=1, width=4
    ),
    AccountSection(
        "contact_details",
        "Contact details",
        "accounts/widgets/_contact_details.html",
        contact_details,
        order=2,
        width=8,
    ),
    AccountSection(
        "assignment",
        "Assignment",
        "accounts/widgets/_assignment.html",
        assignment,
        order=3,
        width=4,
    ),
    AccountSection(
        "flags_alerts",
        "Flags and alerts",
        "accounts/widgets/_flags_alerts.html",
        flags_and_alerts,
        order=4,
        width=4,
    ),
    AccountSection(
        "custom_fields",
        "Custom fields",
        "accounts/widgets/_custom_fields.html",
        custom_fields,
        order=25,
        width=6,
    ),
    AccountSection(
        "files",
        "Files",
        "accounts/_files_tab.html",
        account_files,
        permission="accounts.view_accountfile",
        tab="files",
    ),
    AccountSection(
        "history",
        "History",
        "accounts/widgets/_history.html",
        history,
        permission="bulkops.view_auditevent",
        order=90,
        width=12,
    ),
):
    register_section(_section)
