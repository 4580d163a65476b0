"""Bulk Freeze and Bulk Freeze Rollback (seed 001) through the engine
in-process and through their views: what a freeze records and changes,
what a rollback restores (a customer, or one subscription), what each
skips and why, the audit, and the bad input refused without a change."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AccountStatus
from billing.models import AccountFreeze, CancellationReason, Subscription, SubscriptionFreeze
from bulkops import services
from bulkops.models import AuditEvent
from bulkops.registry import toolbar_for
from bulkops.selection import Selection
from tests.bulkops.test_actions import audit, outcome_of, run
from tests.factories import AccountStatusFactory, create_accounts

pytestmark = pytest.mark.django_db

Category = AccountStatus.Category


@pytest.fixture
def statuses(db):
    return {
        "active": AccountStatusFactory(name="Active"),
        "promise": AccountStatusFactory(name="Promise to pay"),
        "frozen": AccountStatusFactory(name="Frozen", category=Category.FROZEN),
        "terminated": AccountStatusFactory(name="Terminated", category=Category.TERMINATED),
    }


@pytest.fixture
def reason(db):
    return CancellationReason.objects.get(company=None, name="Customer request")


@pytest.fixture
def accounts(company, statuses):
    made = create_accounts(4, company=company, status=statuses["active"])
    Account.objects.filter(pk=made[1].pk).update(status=statuses["promise"])
    for account in made:
        Subscription.objects.create(account=account, service_name="Fibre 100")
        Subscription.objects.create(account=account, service_name="TV")
    return made


def freeze(user, accounts, statuses, reason, notes="Asked by phone"):
    return run(
        user,
        "bulk_freeze",
        accounts,
        {"status": statuses["frozen"].pk, "reason": reason.pk, "notes": notes},
    )


def start_rollback(user, freeze_ids):
    return services.start_operation(
        user=user,
        action_key="bulk_freeze_rollback",
        selection=Selection("frozen", ids=frozenset(freeze_ids)),
        confirmed_count=len(freeze_ids),
        data={},
        idempotency_key=uuid.uuid4().hex,
    )


def test_bulk_freeze_freezes_the_accounts_and_every_subscription(
    supervisor, accounts, statuses, reason
):
    earlier = timezone.now() - dt.timedelta(days=30)
    already = Subscription.objects.filter(account=accounts[0], service_name="TV")
    already.update(status=Subscription.Status.FROZEN, frozen_at=earlier)
    operation = freeze(supervisor, accounts, statuses, reason)

    assert (operation.succeeded, operation.skipped, operation.failed) == (4, 0, 0)
    assert set(Account.objects.values_list("status", flat=True)) == {statuses["frozen"].pk}
    assert not Subscription.objects.exclude(status=Subscription.Status.FROZEN).exists()
    # What was there before, recorded: statuses, and the active subscriptions only.
    recorded = dict(AccountFreeze.objects.values_list("account_id", "status_before"))
    assert recorded[accounts[1].pk] == statuses["promise"].pk
    assert recorded[accounts[0].pk] == statuses["active"].pk
    assert SubscriptionFreeze.objects.count() == 7  # TV of the first account was frozen already
    assert AccountFreeze.objects.filter(notes="Asked by phone", reason=reason).count() == 4
    changes = audit(operation, "account.frozen")
    assert changes[accounts[1].pk]["status"] == [statuses["promise"].pk, statuses["frozen"].pk]
    assert len(audit(operation, "subscription.frozen")) == 7
    assert Subscription.objects.get(pk=already.get().pk).frozen_at == earlier


def test_frozen_and_terminated_accounts_are_skipped(supervisor, accounts, statuses, reason):
    Account.objects.filter(pk=accounts[2].pk).update(status=statuses["terminated"])
    freeze(supervisor, accounts[:1], statuses, reason)
    operation = freeze(supervisor, accounts, statuses, reason)
    assert (operation.succeeded, operation.skipped) == (2, 2)
    assert outcome_of(operation, accounts[0]) == ("skipped", "Already frozen")
    assert outcome_of(operation, accounts[2]) == ("skipped", "Account is terminated")
    assert AccountFreeze.objects.filter(account=accounts[0]).count() == 1
    assert Account.objects.get(pk=accounts[2].pk).status_id == statuses["terminated"].pk


def test_the_dialog_offers_frozen_statuses_and_refuses_another_company_s_reason(
    supervisor, accounts, statuses, other_company
):
    from billing.actions.freeze import BulkFreezeForm

    theirs = CancellationReason.objects.create(company=other_company, name="Theirs")
    form = BulkFreezeForm({"status": statuses["active"].pk, "reason": theirs.pk}, user=supervisor)
    assert not form.is_valid()
    assert set(form.errors) == {"status", "reason"}
    assert list(form.fields["status"].queryset) == [statuses["frozen"]]
    assert theirs not in form.fields["reason"].queryset
    with pytest.raises(services.InvalidParameters):
        services.start_operation(
            user=supervisor,
            action_key="bulk_freeze",
            selection=Selection("accounts", ids=frozenset(a.pk for a in accounts)),
            confirmed_count=len(accounts),
            data={"status": statuses["frozen"].pk, "reason": theirs.pk},
            idempotency_key=uuid.uuid4().hex,
        )
    assert not AccountFreeze.objects.exists()


def test_bulk_rollback_restores_what_was_there_before(supervisor, accounts, statuses, reason):
    earlier = timezone.now() - dt.timedelta(days=30)
    Subscription.objects.filter(account=accounts[0], service_name="TV").update(
        status=Subscription.Status.FROZEN, frozen_at=earlier
    )
    freeze(supervisor, accounts, statuses, reason)
    ids = list(AccountFreeze.objects.order_by("pk").values_list("pk", flat=True))
    # Someone changed one account's status by hand after the freeze.
    Account.objects.filter(pk=accounts[3].pk).update(status=statuses["active"])

    operation = start_rollback(supervisor, ids)
    assert services.run_operation(operation.pk) == "finished"
    operation.refresh_from_db()

    assert (operation.succeeded, operation.skipped) == (3, 1)
    item = operation.items.with_settled_outcome().get(target_id=ids[3])
    assert item.reason.startswith("Its status was changed after the freeze")
    by_pk = Account.objects.in_bulk([a.pk for a in accounts])
    assert by_pk[accounts[0].pk].status_id == statuses["active"].pk
    assert by_pk[accounts[1].pk].status_id == statuses["promise"].pk
    # Its subscriptions are active again; the one frozen before the freeze stays so.
    tv = Subscription.objects.get(account=accounts[0], service_name="TV")
    assert (tv.status, tv.frozen_at) == (Subscription.Status.FROZEN, earlier)
    for account in accounts[1:3]:
        assert set(
            Subscription.objects.filter(account=account).values_list("status", "frozen_at")
        ) == {(Subscription.Status.ACTIVE, None)}
    assert AccountFreeze.objects.filter(rolled_back_at=None).count() == 1  # the skipped one
    assert len(audit(operation, "account.freeze_rolled_back")) == 3
    assert len(audit(operation, "subscription.freeze_rolled_back")) == 5
    # A second rollback of the same customers changes nothing.
    again = start_rollback(supervisor, ids[3:])
    services.run_operation(again.pk)
    again.refresh_from_db()
    assert (again.succeeded, again.skipped) == (0, 1)


def test_the_list_shows_only_your_company_s_frozen_customers(
    client, supervisor, accounts, statuses, reason, other_company
):
    freeze(supervisor, accounts[:2], statuses, reason)
    theirs = create_accounts(1, company=other_company, status=statuses["active"])
    AccountFreeze.objects.create(account=theirs[0], reason=reason, frozen_status=statuses["frozen"])
    client.force_login(supervisor)
    response = client.get(reverse("billing:frozen"))
    assert response.status_code == 200
    shown = {row.account_id for row in response.context["rows"]}
    assert shown == {accounts[0].pk, accounts[1].pk}
    assert b"Fibre 100" in response.content
    # Their freeze and its subscriptions are not yours to roll back.
    their_freeze = AccountFreeze.objects.get(account=theirs[0])
    response = client.post(reverse("billing:freeze-rollback", args=[their_freeze.pk]))
    assert response.status_code == 404
    assert AccountFreeze.objects.get(pk=their_freeze.pk).rolled_back_at is None


def test_one_customer_s_and_one_subscription_s_rollback_buttons(
    client, supervisor, accounts, statuses, reason
):
    freeze(supervisor, accounts[:2], statuses, reason)
    client.force_login(supervisor)
    first = AccountFreeze.objects.get(account=accounts[0])
    tv = first.subscriptions.get(subscription__service_name="TV")

    response = client.post(reverse("billing:subscription-rollback", args=[tv.pk]))
    assert response.status_code == 302
    assert Subscription.objects.get(pk=tv.subscription_id).status == Subscription.Status.ACTIVE
    assert Account.objects.get(pk=accounts[0].pk).status_id == statuses["frozen"].pk
    events = AuditEvent.objects.filter(action="subscription.freeze_rolled_back")
    assert list(events.values_list("object_id", flat=True)) == [tv.subscription_id]
    # Not frozen any more: a second click is refused and changes nothing.
    response = client.post(reverse("billing:subscription-rollback", args=[tv.pk]), follow=True)
    assert "This subscription is not frozen" in response.content.decode()
    assert events.count() == 1

    response = client.post(reverse("billing:freeze-rollback", args=[first.pk]), follow=True)
    assert f"{accounts[0].file_number} is re-activated." in response.content.decode()
    assert Account.objects.get(pk=accounts[0].pk).status_id == statuses["active"].pk
    fibre = Subscription.objects.get(account=accounts[0], service_name="Fibre 100")
    assert fibre.status == Subscription.Status.ACTIVE
    response = client.post(reverse("billing:freeze-rollback", args=[first.pk]))
    assert response.status_code == 404  # no longer in the list of frozen customers


def test_rollback_selected_opens_the_engine_s_dialog_with_the_count(
    client, supervisor, accounts, statuses, reason
):
    freeze(supervisor, accounts, statuses, reason)
    client.force_login(supervisor)
    ids = list(AccountFreeze.objects.order_by("pk").values_list("pk", flat=True))
    response = client.post(
        reverse("billing:frozen-select"), {"freeze": [str(ids[0]), str(ids[2])], "state": ""}
    )
    assert response.status_code == 302
    dialog = client.get(response["Location"])
    assert "This will apply to <strong>2</strong> frozen customers." in dialog.content.decode()
    # Every matching one, under a filter.
    state = f"search={accounts[1].file_number}"
    response = client.post(reverse("billing:frozen-select"), {"all": "1", "state": state})
    dialog = client.get(response["Location"])
    assert "This will apply to <strong>1</strong> frozen customer." in dialog.content.decode()
    # A tampered id.
    response = client.post(
        reverse("billing:frozen-select"), {"freeze": ["1; DROP"], "state": ""}, follow=True
    )
    assert "The selection could not be read" in response.content.decode()


def test_only_those_with_the_permission_freeze_or_roll_back(
    client, collector, supervisor, accounts
):
    def allowed(user):
        return {b.key: b.allowed for b in toolbar_for(user, "accounts")}["bulk_freeze"]

    assert allowed(supervisor) and not allowed(collector)
    client.force_login(collector)
    assert client.get(reverse("billing:frozen")).status_code == 403
    assert client.get(reverse("bulkops:action-dialog", args=["bulk_freeze"])).status_code == 403
    assert client.post(reverse("billing:frozen-select"), {"all": "1"}).status_code == 403
