"""Assign To (seed 000, "Assign To Collector"): the selected accounts to one
or more collectors, each a number of them drawn at random, or Unassign."""

from __future__ import annotations

import random
from collections import defaultdict

from django import forms

from accounts import selectors, services
from bulkops.registry import BulkAction, Chunk, Outcomes, register
from bulkops.services import snapshot_items
from common.jsonfields import parse_json, whole_number

UNASSIGN = "unassign"


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
        self.collectors = list(selectors.collectors_of(user))

    def clean_assignments(self):
        return clean_assignment_rows(
            self.cleaned_data["assignments"],
            collectors=self.collectors,
            selected_count=self.selected_count,
        )


def clean_assignment_rows(raw: str, *, collectors, selected_count=None) -> list[dict]:
    """The builder's list (JSON rows of collector and count, or Unassign)
    checked: each collector one of ``collectors`` and once, each count a
    whole number of at least 1, the total at most what is selected. Mass
    Edit's "with counts" reads the same list."""
    form = AssignToForm
    rows = parse_json(raw, max_length=form.MAX_LENGTH, message=form.AT_LEAST_ONE)
    if not isinstance(rows, list) or not rows:
        raise forms.ValidationError(form.AT_LEAST_ONE)
    if len(rows) > len(collectors) + 1:  # each collector once, and Unassign
        raise forms.ValidationError(form.UNREADABLE)
    by_id = {str(c.pk): c for c in collectors}
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
        if count > form.MAX_COUNT:
            raise forms.ValidationError(
                f"Each number of accounts must be at most {form.MAX_COUNT:,}."
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
    if selected_count is not None and total > selected_count:
        raise forms.ValidationError(
            f"The counts add up to {total:,}, more than the {selected_count:,} accounts selected."
        )
    return cleaned


@register
class AssignTo(BulkAction):
    key = "assign"
    inverse = "assign_undo"  # accounts.actions.undo
    label = "Assign To"
    target = "accounts"
    group = "Accounts"
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
            by_target[item.argument].append(item.target_id)
        for target, account_ids in by_target.items():
            collector = None
            if target:
                # Still one of the confirming user's company's active collectors.
                collector = (
                    selectors.collectors_of(operation.created_by).filter(pk=int(target)).first()
                )
                if collector is None:
                    outcomes.fail(account_ids, "The collector was deactivated after confirming.")
                    continue
            outcomes.merge(
                services.assign_accounts(
                    actor=operation.created_by,
                    account_ids=account_ids,
                    collector=collector,
                    bulk_operation=operation,
                )
            )
        return outcomes
