"""Bulk actions the accounts app contributes: Assign To, Change Status To,
Add/Remove Flags, Update Stage. Each changes a chunk with set-based SQL and
records every changed field through the audit service."""

from __future__ import annotations

import random
from collections import defaultdict

from django import forms
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, AccountFlag, AccountStatus, Flag, User
from accounts.roles import COLLECTOR
from bulkops.registry import BulkAction, Chunk, Outcomes, register
from bulkops.services import record_audit_events, record_field_change, snapshot_items
from common.jsonfields import parse_json, whole_number

UNASSIGN = "unassign"


def _collectors(user):
    queryset = User.objects.filter(is_active=True, groups__name=COLLECTOR)
    if not user.is_superuser:
        queryset = queryset.filter(company_id=user.company_id)
    return queryset.order_by("last_name", "first_name")


# --- Assign To --------------------------------------------------------------------


class AssignToForm(forms.Form):
    # The builder's list: a row per collector, each well under 200 characters.
    MAX_LENGTH = 100_000
    MAX_COUNT = 100_000_000
    AT_LEAST_ONE = "Add at least one collector (or Unassign) with the plus button."
    UNREADABLE = "The assignment list could not be read. Add the collectors again."

    assignments = forms.CharField(
        widget=forms.HiddenInput,
        max_length=MAX_LENGTH,
        error_messages={"required": AT_LEAST_ONE, "max_length": UNREADABLE},
    )

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.selected_count = selected_count
        self.collectors = list(_collectors(user))

    def clean_assignments(self):
        rows = parse_json(
            self.cleaned_data["assignments"], max_length=self.MAX_LENGTH, message=self.AT_LEAST_ONE
        )
        if not isinstance(rows, list) or not rows:
            raise forms.ValidationError(self.AT_LEAST_ONE)
        if len(rows) > len(self.collectors) + 1:  # each collector once, and Unassign
            raise forms.ValidationError(self.UNREADABLE)
        by_id = {str(c.pk): c for c in self.collectors}
        cleaned, seen, total = [], set(), 0
        for row in rows:
            if not isinstance(row, dict):
                raise forms.ValidationError("The assignment list could not be read.")
            target = row.get("collector", "")
            target = str(target) if isinstance(target, str | int) else ""
            count = whole_number(row.get("count"))
            if count is None:
                raise forms.ValidationError("Each number of accounts must be a whole number.")
            if count <= 0:
                raise forms.ValidationError("Each number of accounts must be at least 1.")
            if count > self.MAX_COUNT:
                raise forms.ValidationError(
                    f"Each number of accounts must be at most {self.MAX_COUNT:,}."
                )
            if target != UNASSIGN and target not in by_id:
                raise forms.ValidationError(
                    "One of the collectors is no longer available (deactivated or not a "
                    "collector of your company). Pick again."
                )
            if target in seen:
                raise forms.ValidationError("Each collector can appear only once.")
            seen.add(target)
            total += count
            name = "Unassign" if target == UNASSIGN else str(by_id[target])
            cleaned.append({"collector": target, "count": count, "name": name})
        if self.selected_count is not None and total > self.selected_count:
            raise forms.ValidationError(
                f"The counts add up to {total:,}, more than the {self.selected_count:,} "
                "accounts selected."
            )
        return cleaned


@register
class AssignTo(BulkAction):
    target = "accounts"
    group = "Accounts"
    key = "assign"
    label = "Assign To"
    permission = "accounts.assign_accounts"
    order = 10
    form_class = AssignToForm
    dialog_template = "accounts/actions/_assign.html"
    scripts = ("js/assign.js",)
    confirm_label = "Assign"

    def dialog_context(self, form):
        return {"collectors": form.collectors}

    def describe(self, parameters):
        parts = [f"{a['name']} ({a['count']:,})" for a in parameters.get("assignments", [])]
        return f"Assign To {', '.join(parts)}"

    def snapshot(self, operation, queryset):
        """Draw the accounts for each collector at random, reproducibly from
        the operation's seed; accounts not drawn are left alone."""
        ids = sorted(queryset.values_list("pk", flat=True))
        random.Random(operation.seed).shuffle(ids)
        arguments, start = [], 0
        for assignment in operation.parameters["assignments"]:
            target = "" if assignment["collector"] == UNASSIGN else assignment["collector"]
            for account_id in ids[start : start + assignment["count"]]:
                arguments.append((account_id, target))
            start += assignment["count"]
        return snapshot_items(operation, None, arguments=arguments)

    def apply(self, items: Chunk, operation):
        outcomes = Outcomes()
        by_target: dict[str, list[int]] = defaultdict(list)
        for item in items:
            by_target[item.argument].append(item.account_id)
        actor = operation.created_by
        for target, account_ids in by_target.items():
            collector = None
            if target:
                collector = User.objects.filter(pk=int(target), is_active=True).first()
                if collector is None:
                    outcomes.fail(account_ids, "The collector was deactivated after confirming.")
                    continue
            accounts = Account.objects.filter(pk__any=account_ids)
            unchanged = (
                accounts.filter(assigned_to=collector)
                if collector
                else accounts.filter(assigned_to__isnull=True)
            )
            outcomes.skip(
                unchanged.values_list("pk", flat=True),
                f"Already assigned to {collector}" if collector else "Already unassigned",
            )
            changing = accounts.exclude(pk__in=unchanged.values("pk"))
            record_field_change(
                actor=actor,
                action="account.assigned",
                queryset=changing,
                field="assigned_to",
                new_value=collector.pk if collector else None,
                bulk_operation=operation,
            )
            changing.update(assigned_to=collector)
        return outcomes


# --- Change Status To --------------------------------------------------------------


class ChangeStatusForm(forms.Form):
    status = forms.ModelChoiceField(
        label="New status",
        queryset=AccountStatus.objects.filter(is_active=True),
        error_messages={
            "invalid_choice": "That status is no longer available (it may have been "
            "deactivated). Pick another."
        },
    )

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)


@register
class ChangeStatusTo(BulkAction):
    target = "accounts"
    group = "Accounts"
    key = "change_status"
    label = "Change Status To"
    permission = "accounts.change_account_status"
    order = 20
    form_class = ChangeStatusForm
    chunk_size = 10000
    confirm_label = "Change"

    def parameters(self, form):
        status = form.cleaned_data["status"]
        return {"status": status.pk, "status_name": status.name}

    def describe(self, parameters):
        return f"Change Status To {parameters.get('status_name', '')}"

    def apply(self, items, operation):
        outcomes = Outcomes()
        ids = [item.account_id for item in items]
        status = AccountStatus.objects.filter(pk=operation.parameters["status"]).first()
        if status is None or not status.is_active:
            outcomes.fail(ids, "The status was deactivated after confirming.")
            return outcomes
        # The database classifies the chunk: only the accounts to skip come
        # back to Python; the audit and the change are statements over the
        # rest, so a chunk costs the same few statements whatever its size.
        terminated_statuses = list(
            AccountStatus.objects.filter(category=AccountStatus.Category.TERMINATED).values_list(
                "pk", flat=True
            )
        )
        chunk = Account.objects.filter(pk__any=ids)
        is_terminated = Q(status_id__in=terminated_statuses) | Q(terminated_on__isnull=False)
        terminated, already = [], []
        for pk, status_id, terminated_on in chunk.filter(
            is_terminated | Q(status_id=status.pk)
        ).values_list("pk", "status_id", "terminated_on"):
            if terminated_on is not None or status_id in terminated_statuses:
                terminated.append(pk)
            else:
                already.append(pk)
        outcomes.skip(terminated, "Account is terminated")
        outcomes.skip(already, f"Already {status.name}")
        changing = chunk.exclude(is_terminated | Q(status_id=status.pk))
        actor = operation.created_by
        # Audit first: each INSERT ... SELECT reads the values before the change.
        record_field_change(
            actor=actor,
            action="account.status_changed",
            queryset=changing,
            field="status",
            new_value=status.pk,
            bulk_operation=operation,
        )
        if status.category == AccountStatus.Category.DEFAULT:
            today = timezone.localdate()  # the day the accounts enter default
            entering_default = changing.filter(default_date__isnull=True)
            record_field_change(
                actor=actor,
                action="account.default_date_set",
                queryset=entering_default,
                field="default_date",
                new_value=today,
                bulk_operation=operation,
            )
            # Status and default date in one statement: one new row version.
            # These rows then have the new status, so ``changing`` drops them.
            entering_default.update(status=status, default_date=today)
        changing.update(status=status)
        return outcomes


# --- Add/Remove Flags -----------------------------------------------------------------


class FlagsForm(forms.Form):
    add = forms.ModelMultipleChoiceField(
        label="Flags to add",
        queryset=Flag.objects.filter(is_active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "A flag to add is no longer active. Pick again."},
    )
    remove = forms.ModelMultipleChoiceField(
        label="Flags to remove",
        queryset=Flag.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        add, remove = set(cleaned.get("add") or []), set(cleaned.get("remove") or [])
        if not add and not remove and not self.errors:
            raise forms.ValidationError("Choose at least one flag to add or remove.")
        both = add & remove
        if both:
            names = ", ".join(sorted(f.name for f in both))
            raise forms.ValidationError(f"A flag cannot be added and removed at once: {names}.")
        return cleaned


@register
class AddRemoveFlags(BulkAction):
    target = "accounts"
    group = "Accounts"
    key = "flags"
    label = "Add/Remove Flags"
    permission = "accounts.manage_account_flags"
    order = 30
    form_class = FlagsForm
    confirm_label = "Apply"

    def parameters(self, form):
        return {
            "add": sorted(f.pk for f in form.cleaned_data["add"]),
            "remove": sorted(f.pk for f in form.cleaned_data["remove"]),
            "add_names": sorted(f.name for f in form.cleaned_data["add"]),
            "remove_names": sorted(f.name for f in form.cleaned_data["remove"]),
        }

    def describe(self, parameters):
        parts = []
        if parameters.get("add_names"):
            parts.append("add " + ", ".join(parameters["add_names"]))
        if parameters.get("remove_names"):
            parts.append("remove " + ", ".join(parameters["remove_names"]))
        return "Flags: " + "; ".join(parts)

    def apply(self, items, operation):
        outcomes = Outcomes()
        ids = [item.account_id for item in items]
        add = list(Flag.objects.filter(pk__in=operation.parameters["add"], is_active=True))
        if len(add) != len(operation.parameters["add"]):
            outcomes.fail(ids, "A flag to add was deactivated after confirming.")
            return outcomes
        remove_ids = operation.parameters["remove"]
        names = dict(Flag.objects.values_list("pk", "name"))
        before: dict[int, set[int]] = defaultdict(set)
        for account_id, flag_id in AccountFlag.objects.filter(account_id__any=ids).values_list(
            "account_id", "flag_id"
        ):
            before[account_id].add(flag_id)
        AccountFlag.objects.filter(account_id__any=ids, flag_id__in=remove_ids).delete()
        new_rows = [
            AccountFlag(account_id=account_id, flag=flag)
            for account_id in ids
            for flag in add
            if flag.pk not in before[account_id]
        ]
        AccountFlag.objects.bulk_create(new_rows, batch_size=5000)
        changes = []
        unchanged = []
        for account_id in ids:
            old = before[account_id]
            new = (old - set(remove_ids)) | {f.pk for f in add}
            if old == new:
                unchanged.append(account_id)
                continue
            changes.append(
                (
                    account_id,
                    {"flags": (sorted(names[f] for f in old), sorted(names[f] for f in new))},
                )
            )
        record_audit_events(
            actor=operation.created_by,
            action="account.flags_changed",
            model=Account,
            changes_by_id=changes,
            bulk_operation=operation,
        )
        outcomes.skip(unchanged, "Flags already as requested")
        return outcomes


# --- Update Stage -----------------------------------------------------------------------


class StageForm(forms.Form):
    stage = forms.ChoiceField(label="Collections Stage", choices=Account.Stage.choices)

    def __init__(self, *args, user, selected_count=None, **kwargs):
        super().__init__(*args, **kwargs)


@register
class UpdateStage(BulkAction):
    target = "accounts"
    group = "Accounts"
    key = "stage"
    label = "Update Stage"
    permission = "accounts.update_account_stage"
    order = 40
    form_class = StageForm
    chunk_size = 10000
    confirm_label = "Update"

    def describe(self, parameters):
        return f"Update Stage to {Account.Stage(parameters['stage']).label}"

    def apply(self, items, operation):
        outcomes = Outcomes()
        stage = operation.parameters["stage"]
        accounts = Account.objects.filter(pk__any=[item.account_id for item in items])
        outcomes.skip(
            accounts.filter(stage=stage).values_list("pk", flat=True),
            f"Already {Account.Stage(stage).label}",
        )
        changing = accounts.exclude(stage=stage)
        record_field_change(
            actor=operation.created_by,
            action="account.stage_updated",
            queryset=changing,
            field="stage",
            new_value=stage,
            bulk_operation=operation,
        )
        changing.update(stage=stage)
        return outcomes
