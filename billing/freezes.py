"""Bulk Freeze and Bulk Freeze Rollback (seed 001): freezing an account
sets it to a frozen status and freezes every one of its subscriptions; a
rollback re-activates a customer, or one subscription, restoring what the
freeze recorded as there before.

Set-based, like every writer of many accounts: a chunk of accounts costs
the same few statements whatever its size (the freezes and subscription
freezes inserted, the statuses changed, their audit), in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Account, AccountStatus
from billing.models import AccountFreeze, CancellationReason, Subscription, SubscriptionFreeze
from bulkops.registry import Outcomes
from bulkops.services import audited_update

ALREADY_FROZEN = "Already frozen"
TERMINATED = "Account is terminated"
NOT_OPEN = "It is not frozen any more (rolled back already)."
STATUS_CHANGED = "Its status was changed after the freeze; change it by hand."


def freeze_accounts(
    *,
    actor,
    account_ids: Sequence[int],
    status: AccountStatus,
    reason: CancellationReason,
    notes: str = "",
    bulk_operation=None,
) -> Outcomes:
    """Freeze these accounts: each gets ``status`` (a frozen one) and an
    open freeze recording its status before, ``reason`` and ``notes``; each
    of its subscriptions not frozen yet is frozen, its state before
    recorded. Accounts frozen already (an open freeze, or a frozen status)
    and terminated accounts are skipped with the reason."""
    if status.category != AccountStatus.Category.FROZEN:
        raise ValidationError(f"{status.name} is not a frozen status.")
    outcomes = Outcomes()
    now = timezone.now()
    created_by = actor if actor is not None and actor.is_authenticated else None
    with transaction.atomic():
        # Locked in id order, as every writer of several accounts does.
        rows = list(
            Account.objects.select_for_update()
            .filter(pk__any=list(account_ids))
            .annotate(
                open_freeze=Exists(
                    AccountFreeze.objects.filter(account=OuterRef("pk"), rolled_back_at=None)
                )
            )
            .order_by("pk")
            .values_list("pk", "status_id", "status__category", "terminated_on", "open_freeze")
        )
        frozen_category = AccountStatus.Category.FROZEN
        terminated_category = AccountStatus.Category.TERMINATED
        freezing: dict[int, int | None] = {}
        for pk, status_id, category, terminated_on, open_freeze in rows:
            if open_freeze or category == frozen_category:
                outcomes.skip([pk], ALREADY_FROZEN)
            elif terminated_on is not None or category == terminated_category:
                outcomes.skip([pk], TERMINATED)
            else:
                freezing[pk] = status_id
        if not freezing:
            return outcomes
        freezes = AccountFreeze.objects.bulk_create(
            [
                AccountFreeze(
                    account_id=pk,
                    reason=reason,
                    notes=notes,
                    status_before_id=status_before,
                    frozen_status=status,
                    frozen_at=now,
                    frozen_by=created_by,
                    bulk_operation=bulk_operation,
                )
                for pk, status_before in freezing.items()
            ]
        )
        freeze_of = {freeze.account_id: freeze.pk for freeze in freezes}
        if not all(freeze_of.values()):  # a backend that returns no ids
            freeze_of = dict(
                AccountFreeze.objects.filter(
                    account_id__any=list(freezing), rolled_back_at=None
                ).values_list("account_id", "pk")
            )
        active = Subscription.objects.filter(account_id__any=list(freezing)).exclude(
            status=Subscription.Status.FROZEN
        )
        SubscriptionFreeze.objects.bulk_create(
            [
                SubscriptionFreeze(
                    freeze_id=freeze_of[account_id],
                    subscription_id=pk,
                    status_before=before,
                    frozen_at_before=frozen_at,
                )
                for pk, account_id, before, frozen_at in active.select_for_update()
                .order_by("pk")
                .values_list("pk", "account_id", "status", "frozen_at")
            ]
        )
        audited_update(
            actor=actor,
            action="subscription.frozen",
            queryset=active,
            field="status",
            new_value=Subscription.Status.FROZEN,
            also={"frozen_at": now},
            bulk_operation=bulk_operation,
        )
        audited_update(
            actor=actor,
            action="account.frozen",
            queryset=Account.objects.filter(pk__any=list(freezing)),
            field="status",
            new_value=status.pk,
            bulk_operation=bulk_operation,
        )
    return outcomes


def roll_back_freezes(*, actor, freeze_ids: Sequence[int], bulk_operation=None) -> Outcomes:
    """Re-activate these frozen customers: each account gets back its status
    from before the freeze, and each of its subscriptions still frozen by
    that freeze gets back its state before. A freeze rolled back already is
    skipped; so is an account whose status someone changed after the freeze
    (what to restore is no longer clear), with the reason."""
    outcomes = Outcomes()
    now = timezone.now()
    created_by = actor if actor is not None and actor.is_authenticated else None
    with transaction.atomic():
        freezes = list(
            AccountFreeze.objects.select_for_update()
            .filter(pk__any=list(freeze_ids))
            .order_by("pk")
            .values_list("pk", "account_id", "rolled_back_at", "frozen_status_id")
        )
        current = dict(
            Account.objects.select_for_update()
            .filter(pk__any=[account_id for _, account_id, _, _ in freezes])
            .order_by("pk")
            .values_list("pk", "status_id")
        )
        rolling: list[int] = []
        for pk, account_id, rolled_back_at, frozen_status_id in freezes:
            if rolled_back_at is not None:
                outcomes.skip([pk], NOT_OPEN)
            elif current.get(account_id) != frozen_status_id:
                outcomes.skip([pk], STATUS_CHANGED)
            else:
                rolling.append(pk)
        if not rolling:
            return outcomes
        open_subscriptions = SubscriptionFreeze.objects.filter(
            freeze_id__any=rolling, rolled_back_at=None
        )
        _restore_subscriptions(actor, open_subscriptions, now, bulk_operation)
        # Each account back to its own status before: one UPDATE per status
        # the chunk's accounts had (a handful), each with its audit.
        by_status: dict[int | None, list[int]] = {}
        for account_id, status_before in AccountFreeze.objects.filter(pk__any=rolling).values_list(
            "account_id", "status_before_id"
        ):
            by_status.setdefault(status_before, []).append(account_id)
        for status_before, account_ids in by_status.items():
            audited_update(
                actor=actor,
                action="account.freeze_rolled_back",
                queryset=Account.objects.filter(pk__any=account_ids),
                field="status",
                new_value=status_before,
                bulk_operation=bulk_operation,
            )
        AccountFreeze.objects.filter(pk__any=rolling).update(
            rolled_back_at=now, rolled_back_by=created_by
        )
    return outcomes


def roll_back_subscription(*, actor, subscription_freeze: SubscriptionFreeze) -> None:
    """Re-activate one subscription of a frozen customer (its Rollback
    button): its state before the freeze comes back; the customer stays
    frozen. Refused when it is not frozen any more."""
    now = timezone.now()
    with transaction.atomic():
        locked = (
            SubscriptionFreeze.objects.select_for_update()
            .filter(pk=subscription_freeze.pk, rolled_back_at=None)
            .first()
        )
        subscription_frozen = Subscription.objects.filter(
            pk=subscription_freeze.subscription_id, status=Subscription.Status.FROZEN
        ).exists()
        if locked is None or not subscription_frozen:
            raise ValidationError("This subscription is not frozen: there is nothing to roll back.")
        _restore_subscriptions(
            actor, SubscriptionFreeze.objects.filter(pk=locked.pk), now, bulk_operation=None
        )


def _restore_subscriptions(actor, subscription_freezes, now, bulk_operation) -> None:
    """Give the subscriptions of these open subscription freezes their state
    before back (those still frozen: one someone re-activated by hand
    stays as it is), audited, and close the subscription freezes."""
    created_by = actor if actor is not None and actor.is_authenticated else None
    groups: dict[tuple[str, object], list[int]] = {}
    for subscription_id, before, frozen_at_before in subscription_freezes.values_list(
        "subscription_id", "status_before", "frozen_at_before"
    ):
        groups.setdefault((before, frozen_at_before), []).append(subscription_id)
    for (before, frozen_at_before), ids in groups.items():
        audited_update(
            actor=actor,
            action="subscription.freeze_rolled_back",
            queryset=Subscription.objects.filter(pk__any=ids, status=Subscription.Status.FROZEN),
            field="status",
            new_value=before,
            also={"frozen_at": frozen_at_before},
            bulk_operation=bulk_operation,
        )
    subscription_freezes.update(rolled_back_at=now, rolled_back_by=created_by)
