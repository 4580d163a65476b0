"""Undo of the money actions (Write Off Balances, Bulk Write-off, Add Fees):
by reversing entries, never by deleting a line. Each journal line the
undone operation posted on an account gets a line of the opposite amount
that names it (``LedgerEntry.reverses``, one reversal a line at most), so
the balances move back and still equal the sum of the journal. The claims
whose status the operation changed (written off) get their status back
where it is still the operation's; a fee's invoice, its fee reversed, is
closed (cancelled). Undoing the undo posts the original lines again.

An account whose fee invoice was paid since is skipped with who and when:
reversing the fee would leave the payment on a cancelled invoice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db import transaction

from accounts.actions.undo import skip_changed_since
from billing.models import Claim, LedgerEntry
from billing.services import NewEntry, post_ledger_entries
from bulkops.models import AuditEvent
from bulkops.registry import Outcomes
from bulkops.services import audited_update

ALREADY_REVERSED = "Its entries of this operation were reversed already"
NOTHING = "Nothing of this operation to undo"


def reverse_operation(
    *, actor, account_ids: Sequence[int], original, bulk_operation=None
) -> Outcomes:
    """Reverse every journal line ``original`` posted on these accounts."""
    outcomes = Outcomes()
    ids = list(account_ids)
    with transaction.atomic():
        entries = list(
            LedgerEntry.objects.filter(bulk_operation=original, account_id__any=ids)
            .order_by("pk")
            .values_list(
                "pk", "account_id", "claim_id", "kind", "amount", "reverses__kind", "posted_at"
            )
        )
        by_account: dict[int, list[tuple]] = defaultdict(list)
        for entry in entries:
            by_account[entry[1]].append(entry)
        outcomes.skip(set(ids) - set(by_account), NOTHING)
        reversed_already = set(
            LedgerEntry.objects.filter(reverses_id__in=[entry[0] for entry in entries]).values_list(
                "reverses__account_id", flat=True
            )
        )
        outcomes.skip(reversed_already, ALREADY_REVERSED)
        blocked = _fees_paid_since(
            [e for e in entries if e[3] == LedgerEntry.Kind.FEE and e[1] not in reversed_already]
        )
        skip_changed_since(outcomes, blocked)
        reversing = [
            entry
            for account_id, rows in by_account.items()
            if account_id not in reversed_already and account_id not in blocked
            for entry in rows
        ]
        if not reversing:
            return outcomes
        redo = any(entry[5] is not None for entry in reversing)
        word = "Redo" if redo else "Reversal"
        post_ledger_entries(
            entries=[
                NewEntry(
                    account_id,
                    # A reversal of a reversal is the original line again.
                    reversed_kind or LedgerEntry.Kind.ADJUSTMENT,
                    -amount,
                    claim_id,
                    f"{word} of #{original.pk}",
                    reverses_id=pk,
                )
                for pk, account_id, claim_id, _kind, amount, reversed_kind, _at in reversing
            ],
            actor=actor,
            context=LedgerEntry.Context.BULK,
            bulk_operation=bulk_operation,
        )
        claims = {entry[2] for entry in reversing if entry[2] is not None}
        _restore_claim_statuses(actor, original, claims, bulk_operation)
        fee_invoices = [
            e[2] for e in reversing if e[3] == LedgerEntry.Kind.FEE and e[2] is not None
        ]
        if fee_invoices:
            closing = Claim.objects.filter(pk__any=fee_invoices, balance=0).exclude(
                status=Claim.Status.CANCELLED
            )
            audited_update(
                actor=actor,
                action="claim.cancelled",
                queryset=closing,
                field="status",
                new_value=Claim.Status.CANCELLED,
                bulk_operation=bulk_operation,
            )
    return outcomes


def _fees_paid_since(fee_entries) -> dict[int, tuple]:
    """{account: (who, when)} for each fee whose invoice something else moved
    since it was posted (a payment on it)."""
    if not fee_entries:
        return {}
    balances = dict(
        Claim.objects.filter(pk__any=[e[2] for e in fee_entries]).values_list("pk", "balance")
    )
    blocked = {}
    for _pk, account_id, claim_id, _kind, amount, _reversed, posted_at in fee_entries:
        if balances.get(claim_id) == amount:
            continue
        latest = (
            LedgerEntry.objects.filter(claim_id=claim_id, posted_at__gte=posted_at)
            .exclude(kind=LedgerEntry.Kind.FEE)
            .order_by("-posted_at", "-pk")
            .values_list("created_by_id", "posted_at")
            .first()
        )
        blocked[account_id] = latest or (None, None)
    return blocked


def _restore_claim_statuses(actor, original, claim_ids, bulk_operation) -> None:
    """Each claim whose status ``original`` changed gets its status before,
    where it still has the one the operation gave it."""
    if not claim_ids:
        return
    changed: dict[int, tuple[str, str]] = {}
    for object_id, changes in AuditEvent.objects.filter(
        bulk_operation=original, object_type="billing.claim", object_id__in=list(claim_ids)
    ).values_list("object_id", "changes"):
        if "status" in changes:
            before, after = changes["status"]
            changed[object_id] = (changed.get(object_id, (before, after))[0], after)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for claim_id, (before, after) in changed.items():
        groups[(before, after)].append(claim_id)
    for (before, after), ids in groups.items():
        audited_update(
            actor=actor,
            action="claim.status_restored",
            queryset=Claim.objects.filter(pk__any=ids, status=after),
            field="status",
            new_value=before,
            bulk_operation=bulk_operation,
        )
