"""Undo of the money actions and of Bulk Freeze, each a bulk operation of its
own over the accounts the undone operation changed.

- Write Off Balances, Bulk Write-off and Add Fees: reversing entries
  (``billing.undo``); undoing the undo posts the lines again.
- Bulk Freeze: each freeze it made rolled back, as Bulk Freeze Rollback
  does (the account's status before, its subscriptions re-activated),
  where the account is still in the frozen status; undoing the undo
  freezes the accounts again with the same status, reason and notes."""

from __future__ import annotations

from accounts.actions.undo import changed_since, skip_changed_since
from accounts.models import AccountStatus
from billing import freezes
from billing.actions.write_off import ApprovedAboveTheLimit
from billing.models import AccountFreeze, CancellationReason
from billing.undo import reverse_operation
from bulkops.registry import BulkAction, Outcomes, register


class ReverseEntries(BulkAction):
    target = "accounts"
    group = "Money"
    in_toolbar = False
    chunk_size = 2000
    confirm_label = "Undo"
    done_word = "reversed"

    def describe(self, parameters):
        return f"Undo of #{parameters.get('undoes')}: reversing entries"

    def apply(self, items, operation):
        return reverse_operation(
            actor=operation.created_by,
            account_ids=items.target_ids,
            original=operation.undoes,
            bulk_operation=operation,
        )


class RedoApprovedAboveTheLimit(ApprovedAboveTheLimit):
    """Undoing the undo of a write-off writes the balances off again: above
    the company's limit it waits for a second person's approval, as the
    write-off did. The undo itself (balances put back) needs none."""

    def approval_needed(self, user, parameters, count, *, operation):
        if not operation.undoes or not operation.undoes.kind.endswith("_undo"):
            return ""
        return super().approval_needed(user, parameters, count, operation=operation)


@register
class UndoWriteOff(RedoApprovedAboveTheLimit, ReverseEntries):
    key = "write_off_undo"
    label = "Undo Write Off Balances"
    permission = "billing.write_off_balances"
    inverse = "write_off_undo"


@register
class UndoWriteOffFile(RedoApprovedAboveTheLimit, ReverseEntries):
    key = "write_off_file_undo"
    label = "Undo Bulk Write-off"
    permission = "billing.write_off_balances"
    inverse = "write_off_file_undo"


@register
class UndoAddFees(ReverseEntries):
    key = "add_fees_undo"
    label = "Undo Add Fees"
    permission = "billing.add_fees"
    inverse = "add_fees_undo"


def _base_freeze(operation):
    """The Bulk Freeze an undo (or redo) chain started from."""
    while operation.kind != "bulk_freeze" and operation.undoes_id:
        operation = operation.undoes
    return operation


@register
class UndoFreeze(BulkAction):
    key = "bulk_freeze_undo"
    label = "Undo Bulk Freeze"
    target = "accounts"
    group = "Money"
    in_toolbar = False
    permission = "billing.freeze_accounts"
    inverse = "bulk_freeze_redo"
    chunk_size = 5000
    confirm_label = "Undo"
    done_word = "re-activated"

    def describe(self, parameters):
        return f"Undo of #{parameters.get('undoes')}: freezes rolled back"

    def apply(self, items, operation):
        outcomes = Outcomes()
        original = operation.undoes
        ids = list(items.target_ids)
        freeze_of = dict(
            AccountFreeze.objects.filter(bulk_operation=original, account_id__any=ids).values_list(
                "pk", "account_id"
            )
        )
        outcomes.skip(set(ids) - set(freeze_of.values()), "Nothing of this operation to undo")
        rolled = freezes.roll_back_freezes(
            actor=operation.created_by, freeze_ids=list(freeze_of), bulk_operation=operation
        )
        for reason, freeze_ids in rolled.skipped.items():
            account_ids = [freeze_of[pk] for pk in freeze_ids]
            if reason == freezes.STATUS_CHANGED:
                since = changed_since(
                    account_ids, {"status"}, original.created_at, [original.pk, operation.pk]
                )
                skip_changed_since(
                    outcomes,
                    {pk: since.get((pk, "status"), (None, None)) for pk in account_ids},
                )
            else:
                outcomes.skip(account_ids, reason)
        for reason, freeze_ids in rolled.failed.items():
            outcomes.fail([freeze_of[pk] for pk in freeze_ids], reason)
        return outcomes


@register
class RedoFreeze(BulkAction):
    """Undo of an Undo Bulk Freeze: the accounts frozen again as the Bulk
    Freeze froze them (its status, reason and notes)."""

    key = "bulk_freeze_redo"
    label = "Redo Bulk Freeze"
    target = "accounts"
    group = "Money"
    in_toolbar = False
    permission = "billing.freeze_accounts"
    inverse = "bulk_freeze_undo"
    chunk_size = 5000
    confirm_label = "Undo"
    done_word = "frozen"

    def describe(self, parameters):
        return f"Undo of #{parameters.get('undoes')}: frozen again"

    def apply(self, items, operation):
        ids = items.target_ids
        parameters = _base_freeze(operation).parameters
        status = AccountStatus.objects.filter(pk=parameters["status"], is_active=True).first()
        reason = CancellationReason.objects.filter(pk=parameters["reason"], is_active=True).first()
        if status is None or reason is None:
            return Outcomes.all_failed(ids, "The frozen status or the reason was deactivated.")
        return freezes.freeze_accounts(
            actor=operation.created_by,
            account_ids=ids,
            status=status,
            reason=reason,
            notes=parameters.get("notes", ""),
            bulk_operation=operation,
        )
