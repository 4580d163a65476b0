"""Billing's events in the account's Diary: payments and other ledger
postings (each with its claim), and promises to pay, made and settled."""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse

from accounts.diary import (
    DiaryEntry,
    DiarySource,
    register_claim_choices,
    register_diary_source,
)
from billing.models import Claim, LedgerEntry, PromiseToPay


def _claim_url(claim) -> str:
    return reverse("accounts:detail", args=[claim.account_id]) + "?tab=journal" if claim else ""


def _describe_ledger(user, ids):
    entries = LedgerEntry.objects.filter(pk__in=ids).select_related("claim", "payment_method")
    return {
        e.pk: DiaryEntry(
            title=f"{e.get_kind_display()} of {e.amount:,.2f}",
            detail=" · ".join(
                part
                for part in (
                    e.description,
                    f"{e.get_context_display()} posting",
                    str(e.payment_method or ""),
                )
                if part
            ),
            url=_claim_url(e.claim),
            link_text=f"Claim {e.claim.reference}" if e.claim_id else "",
            operation_id=e.bulk_operation_id,
        )
        for e in entries
    }


def _describe_promises(settled: bool):
    def describe(user, ids):
        promises = PromiseToPay.objects.filter(pk__in=ids).select_related("claim")
        out = {}
        for p in promises:
            if settled:
                title = f"Promise to pay {p.get_state_display().lower()}"
                detail = f"{p.paid_amount or 0:,.2f} paid of {p.amount:,.2f} due {p.due_date}"
            else:
                title = f"Promise to pay {p.amount:,.2f} by {p.due_date}"
                detail = str(p.payment_method or "")
            out[p.pk] = DiaryEntry(
                title=title,
                detail=detail,
                url=_claim_url(p.claim),
                link_text=f"Claim {p.claim.reference}",
            )
        return out

    return describe


_PAYMENT = Q(kind=LedgerEntry.Kind.PAYMENT)
_SEES_LEDGER, _SEES_PROMISES = "billing.view_ledgerentry", "billing.view_promisetopay"

for _source in (
    DiarySource(
        "payment", "Payment", LedgerEntry, "posted_at", _describe_ledger, "created_by_id",
        "claim_id", where=_PAYMENT, permission=_SEES_LEDGER, order=20,
    ),
    DiarySource(
        "ledger", "Ledger posting", LedgerEntry, "posted_at", _describe_ledger, "created_by_id",
        "claim_id", where=~_PAYMENT, permission=_SEES_LEDGER, order=21,
    ),
    DiarySource(
        "promise", "Promise to pay", PromiseToPay, "created_at", _describe_promises(settled=False),
        "created_by_id", "claim_id", permission=_SEES_PROMISES, order=14,
    ),
    DiarySource(
        "promise_settled", "Promise kept or broken", PromiseToPay, "settled_at",
        _describe_promises(settled=True), None, "claim_id",
        where=Q(settled_at__isnull=False), permission=_SEES_PROMISES, order=15,
    ),
):  # fmt: skip
    register_diary_source(_source)


register_claim_choices(
    lambda account: list(
        Claim.objects.filter(account=account).order_by("reference").values_list("pk", "reference")
    )
)
