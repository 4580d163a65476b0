"""Mass Edit (seed 003): one bulk operation that changes, on every selected
account, the fields whose box is ticked, section by section: Standard
Fields (File Type, Created By, Created At, Assigned To split evenly between
several users), Company Type Assignments, Role Assignments, Status / Other
(status, stage, flags), Mass Add Note, Mass Add Alert and Custom Fields.

Each chunk is one transaction (the engine's); each section is a set-based
service call (``accounts.services`` for what other actions also do,
``accounts.mass_edit`` for the rest), so an account changed by Mass Edit
and by the single-purpose action obeys the same rules and leaves the same
audit. An account is done when any section changed it, skipped when every
section found it already as asked. Unlike the seed's product, it can be
undone (``accounts.actions.mass_edit_undo``)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

from django import forms
from django.utils import timezone

from accounts import mass_edit, selectors, services
from accounts.actions.assign import UNASSIGN, clean_assignment_rows
from accounts.details import clean_custom_value, custom_fields_of
from accounts.models import (
    Account,
    AccountRoleAssignment,
    AccountStatus,
    Company,
    CustomField,
    FileType,
    Flag,
    NoteType,
    User,
)
from bulkops.registry import BulkAction, Chunk, Outcomes, register
from bulkops.services import snapshot_items

NOTHING_TICKED = "Tick at least one field to change."
EVEN, COUNTS = "even", "counts"
ROLES = AccountRoleAssignment.Role


class MassEditForm(forms.Form):
    """A checkbox for each field (``change_*``, ``add_*``) and its value;
    only ticked fields are read, and each ticked one must say what to do."""

    # Standard Fields
    change_file_type = forms.BooleanField(label="File Type", required=False)
    file_type = forms.ModelChoiceField(
        label="New file type", queryset=FileType.objects.none(), required=False
    )
    change_created_by = forms.BooleanField(label="Created By", required=False)
    created_by = forms.ModelChoiceField(
        label="New creator", queryset=User.objects.none(), required=False
    )
    change_created_at = forms.BooleanField(label="Created At", required=False)
    created_at = forms.DateTimeField(
        label="New creation time",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )
    change_assigned_to = forms.BooleanField(label="Assigned To", required=False)
    assign_mode = forms.ChoiceField(
        label="How",
        choices=[
            (EVEN, "Split evenly between the users picked"),
            (COUNTS, "With counts, as Assign To"),
        ],
        initial=EVEN,
        required=False,
        widget=forms.RadioSelect,
    )
    assigned_to = forms.ModelMultipleChoiceField(
        label="Users",
        queryset=User.objects.none(),
        required=False,
        help_text="Hold Ctrl (or ⌘) to pick several: the accounts are split evenly between them.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    assignments = forms.CharField(widget=forms.HiddenInput, required=False)
    # Company Type Assignments
    change_access = forms.BooleanField(label="Company access", required=False)
    access_company = forms.ModelChoiceField(
        label="Company", queryset=Company.objects.none(), required=False
    )
    access_action = forms.ChoiceField(
        label="Access",
        choices=[("grant", "Grant access"), ("remove", "Remove access")],
        initial="grant",
        required=False,
        widget=forms.RadioSelect,
    )
    # Status / Other
    change_status = forms.BooleanField(label="Status", required=False)
    status = forms.ModelChoiceField(
        label="New status", queryset=AccountStatus.objects.none(), required=False
    )
    change_stage = forms.BooleanField(label="Stage", required=False)
    stage = forms.ChoiceField(label="New stage", choices=Account.Stage.choices, required=False)
    change_flags = forms.BooleanField(label="Flags", required=False)
    add_flags = forms.ModelMultipleChoiceField(
        label="Add", queryset=Flag.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    remove_flags = forms.ModelMultipleChoiceField(
        label="Remove", queryset=Flag.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    # Mass Add Note
    add_note = forms.BooleanField(label="Add a note", required=False)
    note_type = forms.ModelChoiceField(
        label="Note Type", queryset=NoteType.objects.none(), required=False
    )
    note_body = forms.CharField(
        label="Note", required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip
    # Mass Add Alert
    add_alert = forms.BooleanField(label="Add an alert", required=False)
    alert_message = forms.CharField(label="Alert", required=False, max_length=500)
    alert_expires = forms.DateField(
        label="Expires on",
        required=False,
        help_text="Optional: the alert is shown until the end of the day before.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.selected_count = selected_count
        fields = self.fields
        fields["file_type"].queryset = selectors.configuration_visible_to(user, FileType)
        fields["created_by"].queryset = selectors.company_users(user)
        self.collectors = list(selectors.collectors_of(user))
        fields["assigned_to"].queryset = selectors.collectors_of(user)
        companies = Company.objects.filter(is_active=True).order_by("name")
        if not user.is_superuser:
            companies = companies.exclude(pk=user.company_id)
        fields["access_company"].queryset = companies
        fields["status"].queryset = selectors.configuration_visible_to(user, AccountStatus).filter(
            is_active=True
        )
        flags = selectors.configuration_visible_to(user, Flag).filter(is_active=True)
        fields["add_flags"].queryset = flags
        fields["remove_flags"].queryset = flags
        fields["note_type"].queryset = selectors.configuration_visible_to(user, NoteType).filter(
            is_active=True
        )
        # Role Assignments: a box and a user (none: clear the role) per role.
        for role, label in ROLES.choices:
            fields[f"change_role_{role}"] = forms.BooleanField(label=label, required=False)
            fields[f"role_{role}"] = forms.ModelChoiceField(
                label=f"{label} user",
                queryset=selectors.company_users(user),
                required=False,
                empty_label="(nobody: clear the role)",
            )
        # Custom Fields: a box and a value (empty: clear it) per field.
        self.custom_fields = custom_fields_of(user)
        for field in self.custom_fields:
            fields[f"change_cf_{field.pk}"] = forms.BooleanField(label=field.name, required=False)
            fields[f"cf_{field.pk}"] = forms.CharField(
                label=f"{field.name} value",
                required=False,
                widget=_custom_widget(field),
                help_text="Leave empty to clear the field.",
            )
        for name, field in fields.items():
            if not name.startswith(("change_", "add_")) or name in ("add_flags",):
                css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
                if isinstance(field.widget, forms.CheckboxSelectMultiple | forms.RadioSelect):
                    continue
                field.widget.attrs.setdefault("class", css)
            else:
                field.widget.attrs.setdefault("class", "form-check-input")

    def sections(self):
        """The page's sections: (title, [(tick, [value fields])])."""

        def rows(*pairs):
            return [(self[tick], [self[name] for name in names]) for tick, names in pairs]

        return [
            ("Standard Fields", rows(
                ("change_file_type", ["file_type"]),
                ("change_created_by", ["created_by"]),
                ("change_created_at", ["created_at"]),
                ("change_assigned_to", ["assign_mode", "assigned_to"]),
            )),
            ("Company Type Assignments", rows(
                ("change_access", ["access_company", "access_action"]),
            )),
            ("Role Assignments", rows(
                *[(f"change_role_{role}", [f"role_{role}"]) for role in ROLES.values]
            )),
            ("Status / Other", rows(
                ("change_status", ["status"]),
                ("change_stage", ["stage"]),
                ("change_flags", ["add_flags", "remove_flags"]),
            )),
            ("Mass Add Note", rows(("add_note", ["note_type", "note_body"]))),
            ("Mass Add Alert", rows(("add_alert", ["alert_message", "alert_expires"]))),
            ("Custom Fields", rows(
                *[(f"change_cf_{f.pk}", [f"cf_{f.pk}"]) for f in self.custom_fields]
            )),
        ]  # fmt: skip

    def clean(self):
        data = super().clean()
        ticked = [n for n, v in data.items() if n.startswith(("change_", "add_")) and v is True]
        if not ticked:
            raise forms.ValidationError(NOTHING_TICKED)

        def need(tick, name, message):
            if data.get(tick) and data.get(name) in (None, "", []):
                self.add_error(name, message)

        need("change_file_type", "file_type", "Pick the new file type.")
        need("change_created_by", "created_by", "Pick the user who created the accounts.")
        need("change_created_at", "created_at", "Enter the new creation time.")
        if data.get("change_assigned_to"):
            if data.get("assign_mode") == COUNTS:
                try:
                    data["assignments"] = clean_assignment_rows(
                        data.get("assignments", ""),
                        collectors=self.collectors,
                        selected_count=self.selected_count,
                    )
                except forms.ValidationError as error:
                    self.add_error("assign_mode", error)
            else:
                need("change_assigned_to", "assigned_to", "Pick at least one user to assign to.")
        need("change_access", "access_company", "Pick the company.")
        need("change_access", "access_action", "Say whether to grant or remove access.")
        need("change_status", "status", "Pick the new status.")
        need("change_stage", "stage", "Pick the new stage.")
        need("add_note", "note_type", "Pick the note type.")
        need("add_note", "note_body", "Type the note.")
        need("add_alert", "alert_message", "Type the alert.")
        at = data.get("created_at")
        if data.get("change_created_at") and at and at > timezone.now():
            self.add_error("created_at", "Created At cannot be in the future.")
        expires = data.get("alert_expires")
        if data.get("add_alert") and expires and expires <= timezone.localdate():
            self.add_error("alert_expires", "The expiry must be after today.")
        if data.get("change_flags"):
            add, remove = set(data.get("add_flags") or []), set(data.get("remove_flags") or [])
            if not add and not remove:
                self.add_error("add_flags", "Pick flags to add or to remove.")
            elif add & remove:
                self.add_error("remove_flags", "A flag cannot be both added and removed.")
        for field in self.custom_fields:
            if data.get(f"change_cf_{field.pk}"):
                try:
                    data[f"cf_{field.pk}"] = clean_custom_value(field, data.get(f"cf_{field.pk}"))
                except forms.ValidationError as error:
                    self.add_error(f"cf_{field.pk}", error)
        return data

    def changes(self) -> dict:
        """The ticked changes as the operation stores them (JSON)."""
        data, changes = self.cleaned_data, {}
        for name in ("file_type", "created_by", "status", "note_type"):
            tick = "add_note" if name == "note_type" else f"change_{name}"
            if data.get(tick):
                row = data[name]
                changes[name] = {"id": row.pk, "name": str(row)}
        if data.get("change_created_at"):
            changes["created_at"] = data["created_at"].isoformat()
        if data.get("change_assigned_to") and data.get("assign_mode") == COUNTS:
            changes["assign_counts"] = data["assignments"]
        elif data.get("change_assigned_to"):
            changes["assigned_to"] = [{"id": u.pk, "name": str(u)} for u in data["assigned_to"]]
        if data.get("change_access"):
            company = data["access_company"]
            changes["access"] = {
                "company": company.pk, "name": company.name,
                "grant": data["access_action"] == "grant",
            }  # fmt: skip
        roles = {}
        for role in ROLES.values:
            if data.get(f"change_role_{role}"):
                user = data.get(f"role_{role}")
                roles[role] = {"id": user.pk if user else None, "name": str(user) if user else ""}
        if roles:
            changes["roles"] = roles
        if data.get("change_stage"):
            changes["stage"] = {"value": data["stage"], "name": Account.Stage(data["stage"]).label}
        if data.get("change_flags"):
            changes["flags"] = {
                "add": [{"id": f.pk, "name": f.name} for f in data["add_flags"]],
                "remove": [{"id": f.pk, "name": f.name} for f in data["remove_flags"]],
            }
        if data.get("add_note"):
            changes["note"] = {**changes.pop("note_type"), "body": data["note_body"]}
        if data.get("add_alert"):
            expires = data.get("alert_expires")
            changes["alert"] = {
                "message": data["alert_message"],
                "expires": expires.isoformat() if expires else None,
            }
        custom = {}
        for field in self.custom_fields:
            if data.get(f"change_cf_{field.pk}"):
                custom[str(field.pk)] = {"name": field.name, "value": data[f"cf_{field.pk}"]}
        if custom:
            changes["custom"] = custom
        return changes


def _custom_widget(field: CustomField):
    kind = CustomField.FieldType
    if field.field_type == kind.NUMBER:
        return forms.NumberInput(attrs={"step": "any"})
    if field.field_type == kind.DATE:
        return forms.DateInput(attrs={"type": "date"})
    if field.field_type == kind.BOOLEAN:
        return forms.Select(choices=[("", "(empty)"), ("yes", "Yes"), ("no", "No")])
    if field.field_type == kind.CHOICE:
        return forms.Select(choices=[("", "(empty)"), *[(c, c) for c in field.choice_list]])
    return forms.TextInput(attrs={"maxlength": 500})


def even_split(count: int, users: list[dict]) -> list[tuple[dict, int]]:
    """Each user's share of ``count`` accounts, as equal as the count allows:
    the first ``count % len(users)`` users get one more."""
    base, extra = divmod(count, len(users))
    return [(user, base + (1 if i < extra else 0)) for i, user in enumerate(users)]


def describe_changes(changes: dict) -> list[str]:
    """The ticked changes in words, one line each (the preview, the list)."""
    lines = []
    if "file_type" in changes:
        lines.append(f"File Type: {changes['file_type']['name']}")
    if "created_by" in changes:
        lines.append(f"Created By: {changes['created_by']['name']}")
    if "created_at" in changes:
        lines.append(f"Created At: {changes['created_at'][:16].replace('T', ' ')}")
    if "assigned_to" in changes:
        names = ", ".join(u["name"] for u in changes["assigned_to"])
        lines.append(f"Assigned To: {names}" + (" (split evenly)" if "," in names else ""))
    if "assign_counts" in changes:
        parts = [f"{a['name']} ({a['count']:,})" for a in changes["assign_counts"]]
        lines.append(f"Assigned To: {', '.join(parts)}; the rest left as they are")
    if "access" in changes:
        access = changes["access"]
        verb = "grant access to" if access["grant"] else "remove the access of"
        lines.append(f"Company Type Assignments: {verb} {access['name']}")
    for role, user in changes.get("roles", {}).items():
        lines.append(f"{ROLES(role).label}: {user['name'] or 'cleared'}")
    if "status" in changes:
        lines.append(f"Status: {changes['status']['name']}")
    if "stage" in changes:
        lines.append(f"Stage: {changes['stage']['name']}")
    if "flags" in changes:
        flags = changes["flags"]
        parts = []
        if flags["add"]:
            parts.append("add " + ", ".join(f["name"] for f in flags["add"]))
        if flags["remove"]:
            parts.append("remove " + ", ".join(f["name"] for f in flags["remove"]))
        lines.append(f"Flags: {'; '.join(parts)}")
    if "note" in changes:
        lines.append(f"Mass Add Note ({changes['note']['name']}): {changes['note']['body'][:80]}")
    if "alert" in changes:
        alert = changes["alert"]
        until = f" until {alert['expires']}" if alert["expires"] else ""
        lines.append(f"Mass Add Alert: {alert['message'][:80]}{until}")
    for custom in changes.get("custom", {}).values():
        lines.append(f"{custom['name']}: {custom['value'] or 'cleared'}")
    return lines


@register
class MassEdit(BulkAction):
    key = "mass_edit"
    inverse = "mass_edit_undo"  # accounts.actions.mass_edit_undo
    label = "Mass Edit"
    target = "accounts"
    group = "Accounts"
    permission = "accounts.mass_edit_accounts"
    order = 15
    form_class = MassEditForm
    dialog_template = "accounts/actions/_mass_edit.html"
    scripts = ("js/assign.js",)
    dialog_size = "modal-xl modal-dialog-scrollable modal-fullscreen-lg-down"
    preview_template = "accounts/actions/_mass_edit_preview.html"
    preview_title = "Check the Mass Edit"
    preview_button = "Perform Mass Edit"
    confirm_label = "OK"
    success_message = "Mass Edit Successful"
    chunk_size = 5000
    grows = ("accounts.Note", "accounts.Alert")

    def parameters(self, form):
        return {"changes": form.changes()}

    def dialog_context(self, form):
        return {"collectors": form.collectors}

    def describe(self, parameters):
        changes = parameters.get("changes", {})
        return f"Mass Edit: {'; '.join(describe_changes(changes))}"

    def preview_context(self, form, *, user, selection):
        changes = form.changes()
        split = []
        if len(changes.get("assigned_to", [])) > 1:
            split = even_split(selection.count(user), changes["assigned_to"])
        elif changes.get("assign_counts"):
            split = [({"name": row["name"]}, row["count"]) for row in changes["assign_counts"]]
        return {
            "lines": describe_changes(changes),
            "split": split,
            "split_evenly": "assigned_to" in changes,
        }

    def snapshot(self, operation, queryset):
        """With several users to assign to, each account's user, drawn so
        that the shares are as equal as the count allows (reproducibly from
        the operation's seed); otherwise one item a row, set-based."""
        changes = operation.parameters["changes"]
        users = changes.get("assigned_to", [])
        counts = changes.get("assign_counts")
        if len(users) < 2 and not counts:
            return None
        ids = sorted(queryset.values_list("pk", flat=True))
        random.Random(operation.seed).shuffle(ids)
        if counts:  # each collector their number, drawn at random; the rest left alone
            shares = [({"id": row["collector"]}, row["count"]) for row in counts]
        else:
            shares = even_split(len(ids), users)
        arguments, start = [], 0
        for user, share in shares:
            arguments += [(pk, str(user["id"])) for pk in ids[start : start + share]]
            start += share
        arguments += [(pk, "") for pk in ids[start:]]
        return snapshot_items(operation, None, arguments=arguments)

    def apply(self, items: Chunk, operation):
        changes = operation.parameters["changes"]
        actor = operation.created_by
        ids = list(items.target_ids)
        sections = _Sections(ids)
        for name, step in _STEPS:
            if name in changes:
                step(sections, actor, items, changes[name], operation)
        return sections.outcomes()


class _Sections:
    """Each section's outcome over the chunk, then the accounts': done when
    any section changed it, failed when one failed and none changed it,
    else skipped (every section found it as asked)."""

    def __init__(self, ids: list[int]):
        self.ids = ids
        self.changed: set[int] = set()
        self.failed: dict[int, str] = {}

    def add(self, ids, outcomes: Outcomes, section: str) -> None:
        ids = set(ids)
        left = set(ids)
        for reason, failed in outcomes.failed.items():
            for pk in failed:
                self.failed.setdefault(pk, f"{section}: {reason}")
            left -= failed
        for skipped in outcomes.skipped.values():
            left -= skipped
        self.changed |= left

    def fail(self, ids, reason: str, section: str) -> None:
        self.add(ids, Outcomes.all_failed(ids, reason), section)

    def outcomes(self) -> Outcomes:
        result = Outcomes()
        for pk in self.ids:
            if pk in self.changed:
                continue
            if pk in self.failed:
                result.fail([pk], self.failed[pk])
            else:
                result.skip([pk], "Already as requested")
        return result


def _config(model, user, pk, *, active=True):
    row = model.objects.filter(pk=pk).first()
    if row is None or (active and not getattr(row, "is_active", True)):
        return None
    return row if selectors.configuration_usable_by(user, row) else None


def _file_type(sections, actor, items, change, operation):
    row = _config(FileType, actor, change["id"])
    if row is None:
        return sections.fail(sections.ids, "The file type was removed.", "File Type")
    _set_field(sections, actor, "file_type", row, operation, "File Type")


def _created_by(sections, actor, items, change, operation):
    user = selectors.company_users(actor).filter(pk=change["id"]).first()
    if user is None:
        return sections.fail(sections.ids, "The user was deactivated.", "Created By")
    _set_field(sections, actor, "created_by", user, operation, "Created By")


def _created_at(sections, actor, items, change, operation):
    at = dt.datetime.fromisoformat(change)
    _set_field(sections, actor, "created_at", at, operation, "Created At")


def _set_field(sections, actor, field, value, operation, section):
    outcomes = mass_edit.set_account_field(
        actor=actor, account_ids=sections.ids, field=field, value=value, bulk_operation=operation
    )
    sections.add(sections.ids, outcomes, section)


def _assigned_to(sections, actor, items, users, operation):
    by_user: dict[str, list[int]] = defaultdict(list)
    for item in items:
        by_user[item.argument or str(users[0]["id"])].append(item.target_id)
    for user_id, ids in by_user.items():
        collector = selectors.collectors_of(actor).filter(pk=int(user_id)).first()
        if collector is None:
            sections.fail(ids, "The collector was deactivated after confirming.", "Assigned To")
            continue
        outcomes = services.assign_accounts(
            actor=actor, account_ids=ids, collector=collector, bulk_operation=operation
        )
        sections.add(ids, outcomes, "Assigned To")


def _assign_counts(sections, actor, items, counts, operation):
    by_target: dict[str, list[int]] = defaultdict(list)
    for item in items:
        if item.argument:  # not drawn: its assignment stays
            by_target[item.argument].append(item.target_id)
    for target, ids in by_target.items():
        collector = None
        if target != UNASSIGN:
            collector = selectors.collectors_of(actor).filter(pk=int(target)).first()
            if collector is None:
                sections.fail(ids, "The collector was deactivated after confirming.", "Assigned To")
                continue
        outcomes = services.assign_accounts(
            actor=actor, account_ids=ids, collector=collector, bulk_operation=operation
        )
        sections.add(ids, outcomes, "Assigned To")


def _access(sections, actor, items, change, operation):
    if not Company.objects.filter(pk=change["company"], is_active=True).exists():
        return sections.fail(sections.ids, "The company was deactivated.", "Company access")
    outcomes = mass_edit.set_access(
        actor=actor, account_ids=sections.ids, company_id=change["company"],
        grant=change["grant"], bulk_operation=operation,
    )  # fmt: skip
    sections.add(sections.ids, outcomes, "Company access")


def _roles(sections, actor, items, roles, operation):
    for role, user in roles.items():
        label = ROLES(role).label
        if user["id"] and not selectors.company_users(actor).filter(pk=user["id"]).exists():
            sections.fail(sections.ids, "The user was deactivated.", label)
            continue
        outcomes = mass_edit.set_role(
            actor=actor, account_ids=sections.ids, role=role, user_id=user["id"],
            bulk_operation=operation,
        )  # fmt: skip
        sections.add(sections.ids, outcomes, label)


def _status(sections, actor, items, change, operation):
    status = _config(AccountStatus, actor, change["id"])
    if status is None:
        return sections.fail(sections.ids, "The status was deactivated.", "Status")
    outcomes = services.change_status(
        actor=actor, account_ids=sections.ids, status=status, bulk_operation=operation
    )
    sections.add(sections.ids, outcomes, "Status")


def _stage(sections, actor, items, change, operation):
    outcomes = services.update_stage(
        actor=actor, account_ids=sections.ids, stage=change["value"], bulk_operation=operation
    )
    sections.add(sections.ids, outcomes, "Stage")


def _flags(sections, actor, items, change, operation):
    add = [_config(Flag, actor, f["id"]) for f in change["add"]]
    remove = [f["id"] for f in change["remove"]]
    if None in add:
        return sections.fail(sections.ids, "A flag to add was deactivated.", "Flags")
    outcomes = services.change_flags(
        actor=actor, account_ids=sections.ids, add=add, remove_ids=remove,
        bulk_operation=operation,
    )  # fmt: skip
    sections.add(sections.ids, outcomes, "Flags")


def _note(sections, actor, items, change, operation):
    note_type = _config(NoteType, actor, change["id"])
    if note_type is None:
        return sections.fail(sections.ids, "The note type was deactivated.", "Mass Add Note")
    outcomes = mass_edit.add_notes(
        actor=actor, account_ids=sections.ids, note_type=note_type, body=change["body"],
        bulk_operation=operation,
    )  # fmt: skip
    sections.add(sections.ids, outcomes, "Mass Add Note")


def _alert(sections, actor, items, change, operation):
    expires = None
    if change["expires"]:
        day = dt.date.fromisoformat(change["expires"])
        expires = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    outcomes = mass_edit.add_alerts(
        actor=actor, account_ids=sections.ids, message=change["message"], expires_at=expires,
        bulk_operation=operation,
    )  # fmt: skip
    sections.add(sections.ids, outcomes, "Mass Add Alert")


def _custom(sections, actor, items, custom, operation):
    fields = {str(f.pk): f for f in CustomField.objects.filter(pk__in=[int(k) for k in custom])}
    for pk, change in custom.items():
        field = fields.get(pk)
        if field is None or not field.is_active:
            sections.fail(sections.ids, "The custom field was deactivated.", change["name"])
            continue
        outcomes = mass_edit.set_custom_value(
            actor=actor, account_ids=sections.ids, field=field, value=change["value"],
            bulk_operation=operation,
        )  # fmt: skip
        sections.add(sections.ids, outcomes, change["name"])


# The order sections run in: status before the note saying why, say.
_STEPS = [
    ("file_type", _file_type),
    ("created_by", _created_by),
    ("created_at", _created_at),
    ("assigned_to", _assigned_to),
    ("assign_counts", _assign_counts),
    ("access", _access),
    ("roles", _roles),
    ("status", _status),
    ("stage", _stage),
    ("flags", _flags),
    ("custom", _custom),
    ("note", _note),
    ("alert", _alert),
]
