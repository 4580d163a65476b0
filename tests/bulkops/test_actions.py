"""The four bulk actions of the accounts app run through the engine
in-process: what each changes, what it skips and why, the audit rows it
writes, and the bad input its form refuses."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid

import pytest
from django.utils import timezone

from accounts.actions import AssignTo, AssignToForm, ChangeStatusForm
from accounts.models import Account, AccountFlag, AccountStatus, Flag, User
from accounts.roles import COLLECTOR, SUPERVISOR
from billing.models import Payment
from billing.services import decline_payment, post_payment, record_payment
from bulkops import services
from bulkops.models import AuditEvent, BulkOperation, BulkOperationItem
from bulkops.registry import get_action
from bulkops.selection import Selection
from bulkops.services import engine
from tests.factories import AccountStatusFactory, FlagFactory, UserFactory, create_accounts

pytestmark = pytest.mark.django_db

Outcome = BulkOperationItem.Outcome
Category = AccountStatus.Category


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(engine, "enqueue_operation", calls.append)
    return calls


def start(user, action, accounts, data, *, count=None):
    ids = [a.pk for a in accounts]
    return services.start_operation(
        user=user,
        action_key=action,
        selection=Selection("accounts", ids=frozenset(ids)),
        confirmed_count=len(ids) if count is None else count,
        data=data,
        idempotency_key=uuid.uuid4().hex,
    )


def run(user, action, accounts, data, *, count=None) -> BulkOperation:
    operation = start(user, action, accounts, data, count=count)
    assert services.run_operation(operation.pk) == "finished"
    operation.refresh_from_db()
    return operation


def outcome_of(operation, account) -> tuple[str, str]:
    item = operation.items.with_settled_outcome().get(target_id=account.pk)
    return item.settled, item.reason


def audit(operation, action) -> dict[int, dict]:
    """The ``action`` events of ``operation`` by object ID; checks the
    who and which-operation of each on the way."""
    events = AuditEvent.objects.filter(bulk_operation=operation, action=action)
    for event in events:
        assert event.actor_id == operation.created_by_id
        assert event.occurred_at is not None
    return {event.object_id: event.changes for event in events}


def refreshed(accounts) -> list[Account]:
    by_pk = Account.objects.in_bulk([a.pk for a in accounts])
    return [by_pk[a.pk] for a in accounts]


# --- Change Status To ---------------------------------------------------------------------


@pytest.fixture
def statuses(db):
    return {
        "active": AccountStatusFactory(name="Active"),
        "disputed": AccountStatusFactory(name="Disputed"),
        "default": AccountStatusFactory(name="In Default", category=Category.DEFAULT),
        "default_two": AccountStatusFactory(name="Legal Default", category=Category.DEFAULT),
        "terminated": AccountStatusFactory(name="Terminated", category=Category.TERMINATED),
        "retired": AccountStatusFactory(name="Retired", is_active=False),
    }


def test_change_status_changes_skips_and_audits(supervisor, company, statuses):
    active, disputed = statuses["active"], statuses["disputed"]
    changing = create_accounts(2, company=company, status=active)
    in_default = create_accounts(1, company=company, status=statuses["default"])
    already = create_accounts(1, company=company, status=disputed)
    terminated_status = create_accounts(1, company=company, status=statuses["terminated"])
    terminated_on = create_accounts(
        1, company=company, status=active, terminated_on=dt.date(2025, 1, 2)
    )
    everything = changing + in_default + already + terminated_status + terminated_on

    operation = run(supervisor, "change_status", everything, {"status": disputed.pk})

    assert operation.parameters == {"status": disputed.pk, "status_name": "Disputed"}
    assert (operation.processed, operation.succeeded, operation.skipped, operation.failed) == (
        6,
        3,
        3,
        0,
    )
    assert operation.status == BulkOperation.Status.SUCCEEDED
    after = refreshed(everything)
    assert [a.status_id for a in after] == [disputed.pk] * 4 + [
        statuses["terminated"].pk,
        active.pk,
    ]
    assert all(a.default_date is None for a in after)
    for account in changing + in_default:
        assert outcome_of(operation, account) == (Outcome.DONE, "")
    assert outcome_of(operation, already[0]) == (Outcome.SKIPPED, "Already Disputed")
    for account in terminated_status + terminated_on:
        assert outcome_of(operation, account) == (Outcome.SKIPPED, "Account is terminated")

    assert audit(operation, "account.status_changed") == {
        changing[0].pk: {"status": [active.pk, disputed.pk]},
        changing[1].pk: {"status": [active.pk, disputed.pk]},
        in_default[0].pk: {"status": [statuses["default"].pk, disputed.pk]},
    }
    assert audit(operation, "account.default_date_set") == {}
    account_events = AuditEvent.objects.filter(object_type="accounts.account")
    assert account_events.count() == 3


def test_entering_a_default_status_sets_the_default_date_once(supervisor, company, statuses):
    active, default = statuses["active"], statuses["default"]
    earlier = dt.date(2024, 3, 1)
    fresh = create_accounts(2, company=company, status=active)
    dated = create_accounts(1, company=company, status=active, default_date=earlier)
    from_other_default = create_accounts(
        1, company=company, status=statuses["default_two"], default_date=earlier
    )
    already = create_accounts(1, company=company, status=default)
    everything = fresh + dated + from_other_default + already

    operation = run(supervisor, "change_status", everything, {"status": default.pk})

    today = timezone.now().date()
    after = refreshed(everything)
    assert [a.status_id for a in after] == [default.pk] * 5
    assert [a.default_date for a in after] == [today, today, earlier, earlier, None]
    assert outcome_of(operation, already[0]) == (Outcome.SKIPPED, "Already In Default")
    assert audit(operation, "account.default_date_set") == {
        account.pk: {"default_date": [None, today.isoformat()]} for account in fresh
    }
    assert audit(operation, "account.status_changed") == {
        fresh[0].pk: {"status": [active.pk, default.pk]},
        fresh[1].pk: {"status": [active.pk, default.pk]},
        dated[0].pk: {"status": [active.pk, default.pk]},
        from_other_default[0].pk: {"status": [statuses["default_two"].pk, default.pk]},
    }


def test_change_status_offers_only_active_statuses(supervisor, company, statuses):
    offered = set(ChangeStatusForm(user=supervisor).fields["status"].queryset)
    assert statuses["retired"] not in offered
    assert statuses["disputed"] in offered

    accounts = create_accounts(2, company=company)
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(supervisor, "change_status", accounts, {"status": statuses["retired"].pk})
    assert excinfo.value.form.errors["status"] == [
        "That status is no longer available (it may have been deactivated). Pick another."
    ]
    assert not BulkOperation.objects.exists()


def test_a_status_deactivated_after_the_dialog_opened_is_refused_at_confirm(
    supervisor, company, statuses
):
    accounts = create_accounts(2, company=company)
    disputed = statuses["disputed"]
    AccountStatus.objects.filter(pk=disputed.pk).update(is_active=False)
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(supervisor, "change_status", accounts, {"status": disputed.pk})
    assert "no longer available" in excinfo.value.form.errors["status"][0]
    assert not BulkOperation.objects.exists()
    assert {a.status_id for a in refreshed(accounts)} == {statuses["active"].pk}


@pytest.mark.parametrize("bad", ["", "abc", "999999"])
def test_change_status_needs_a_status(supervisor, company, statuses, bad):
    accounts = create_accounts(1, company=company)
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(supervisor, "change_status", accounts, {"status": bad})
    assert "status" in excinfo.value.form.errors


# --- Add/Remove Flags ------------------------------------------------------------------------


@pytest.fixture
def flags(db):
    return {
        "vip": FlagFactory(name="VIP"),
        "hardship": FlagFactory(name="Hardship"),
        "dnc": FlagFactory(name="Do Not Call"),
        "legacy": FlagFactory(name="Legacy", is_active=False),
    }


def flag_names(account) -> set[str]:
    return set(AccountFlag.objects.filter(account=account).values_list("flag__name", flat=True))


def give(account, *flags):
    AccountFlag.objects.bulk_create(AccountFlag(account=account, flag=f) for f in flags)


def test_flags_add_and_remove_in_one_step(supervisor, company, flags):
    accounts = create_accounts(5, company=company)
    hardship_only, bare, already, legacy_and_hardship, other_flags = accounts
    give(hardship_only, flags["hardship"])
    give(already, flags["vip"])
    give(legacy_and_hardship, flags["legacy"], flags["hardship"])
    give(other_flags, flags["dnc"])

    operation = run(
        supervisor,
        "flags",
        accounts,
        {"add": [flags["vip"].pk], "remove": [flags["hardship"].pk, flags["legacy"].pk]},
    )

    assert operation.parameters == {
        "add": [flags["vip"].pk],
        "remove": sorted([flags["hardship"].pk, flags["legacy"].pk]),
        "add_names": ["VIP"],
        "remove_names": ["Hardship", "Legacy"],
    }
    assert [flag_names(a) for a in accounts] == [
        {"VIP"},
        {"VIP"},
        {"VIP"},
        {"VIP"},
        {"Do Not Call", "VIP"},
    ]
    assert (operation.succeeded, operation.skipped, operation.failed) == (4, 1, 0)
    assert outcome_of(operation, already) == (Outcome.SKIPPED, "Flags already as requested")
    assert audit(operation, "account.flags_changed") == {
        hardship_only.pk: {"flags": [["Hardship"], ["VIP"]]},
        bare.pk: {"flags": [[], ["VIP"]]},
        legacy_and_hardship.pk: {"flags": [["Hardship", "Legacy"], ["VIP"]]},
        other_flags.pk: {"flags": [["Do Not Call"], ["Do Not Call", "VIP"]]},
    }


def test_flags_remove_only(supervisor, company, flags):
    accounts = create_accounts(2, company=company)
    give(accounts[0], flags["dnc"], flags["vip"])
    operation = run(supervisor, "flags", accounts, {"remove": [flags["dnc"].pk]})
    assert [flag_names(a) for a in accounts] == [{"VIP"}, set()]
    assert outcome_of(operation, accounts[1]) == (Outcome.SKIPPED, "Flags already as requested")
    assert audit(operation, "account.flags_changed") == {
        accounts[0].pk: {"flags": [["Do Not Call", "VIP"], ["VIP"]]}
    }


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "Choose at least one flag to add or remove."),
        ({"add": [], "remove": []}, "Choose at least one flag to add or remove."),
        (
            {"add": ["vip"], "remove": ["vip", "dnc"]},
            "A flag cannot be added and removed at once: VIP.",
        ),
    ],
)
def test_flags_form_refusals(supervisor, company, flags, data, error):
    accounts = create_accounts(1, company=company)
    data = {key: [flags[name].pk for name in names] for key, names in data.items()}
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(supervisor, "flags", accounts, data)
    assert excinfo.value.form.non_field_errors() == [error]
    assert not BulkOperation.objects.exists()


def test_an_inactive_flag_cannot_be_added(supervisor, company, flags):
    accounts = create_accounts(1, company=company)
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(supervisor, "flags", accounts, {"add": [flags["legacy"].pk]})
    assert excinfo.value.form.errors["add"] == ["A flag to add is no longer active. Pick again."]


def test_a_flag_deactivated_after_confirming_fails_the_items(supervisor, company, flags):
    accounts = create_accounts(3, company=company)
    give(accounts[0], flags["hardship"])
    operation = start(
        supervisor, "flags", accounts, {"add": [flags["vip"].pk], "remove": [flags["hardship"].pk]}
    )
    Flag.objects.filter(pk=flags["vip"].pk).update(is_active=False)
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    assert (operation.succeeded, operation.failed) == (0, 3)
    assert outcome_of(operation, accounts[0]) == (
        Outcome.FAILED,
        "A flag to add was deactivated after confirming.",
    )
    assert flag_names(accounts[0]) == {"Hardship"}
    assert not AuditEvent.objects.filter(action="account.flags_changed").exists()


# --- Update Stage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "label"), [("not_set", "Not Set"), ("pending", "Pending"), ("sent", "Sent")]
)
def test_update_stage(supervisor, company, stage, label):
    accounts = [
        *create_accounts(1, company=company, stage="not_set"),
        *create_accounts(1, company=company, stage="pending"),
        *create_accounts(1, company=company, stage="sent"),
    ]
    operation = run(supervisor, "stage", accounts, {"stage": stage})
    assert {a.stage for a in refreshed(accounts)} == {stage}
    assert (operation.succeeded, operation.skipped) == (2, 1)
    unchanged = next(a for a in accounts if a.stage == stage)
    assert outcome_of(operation, unchanged) == (Outcome.SKIPPED, f"Already {label}")
    assert audit(operation, "account.stage_updated") == {
        a.pk: {"stage": [a.stage, stage]} for a in accounts if a.stage != stage
    }
    assert get_action("stage").describe(operation.parameters) == f"Update Stage to {label}"


@pytest.mark.parametrize("bad", ["", "shipped"])
def test_update_stage_refuses_an_unknown_stage(supervisor, company, bad):
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(supervisor, "stage", create_accounts(1, company=company), {"stage": bad})
    assert "stage" in excinfo.value.form.errors


# --- Assign To -----------------------------------------------------------------------------


@pytest.fixture
def people(company, other_company):
    return {
        "alice": UserFactory(
            first_name="Alice", last_name="Adams", company=company, role=COLLECTOR
        ),
        "bob": UserFactory(first_name="Bob", last_name="Brown", company=company, role=COLLECTOR),
        "carol": UserFactory(company=company, role=COLLECTOR, is_active=False),
        "dave": UserFactory(company=other_company, role=COLLECTOR),
        "erin": UserFactory(company=company, role=SUPERVISOR),
    }


def assignments(*rows) -> str:
    return json.dumps(
        [
            {"collector": "unassign" if who == "unassign" else str(who.pk), "count": count}
            for who, count in rows
        ]
    )


def assignees(accounts) -> list[int | None]:
    return [a.assigned_to_id for a in refreshed(accounts)]


def test_assign_to_two_collectors_with_counts(supervisor, company, people):
    alice, bob = people["alice"], people["bob"]
    accounts = create_accounts(10, company=company)
    operation = run(
        supervisor,
        "assign",
        accounts,
        {"assignments": assignments((alice, 4), (bob, 3)), "credit_payments": "off"},
    )

    assert operation.parameters == {
        "assignments": [
            {"collector": str(alice.pk), "count": 4, "name": "Alice Adams"},
            {"collector": str(bob.pk), "count": 3, "name": "Bob Brown"},
        ],
        "credit_payments": "off",
    }
    assert AssignTo().describe(operation.parameters) == "Assign To Alice Adams (4), Bob Brown (3)"
    # Fewer accounts than selected: only the drawn ones become items.
    assert (operation.confirmed_count, operation.total) == (10, 7)
    assert (operation.processed, operation.succeeded) == (7, 7)
    after = dict(zip([a.pk for a in accounts], assignees(accounts), strict=True))
    assert (
        sorted(after.values(), key=lambda v: v or 0) == [None] * 3 + [alice.pk] * 4 + [bob.pk] * 3
    )

    # The draw is the seeded shuffle of the selected IDs, in assignment order.
    ids = sorted(after)
    random.Random(operation.seed).shuffle(ids)
    assert {pk: after[pk] for pk in ids[:4]} == dict.fromkeys(ids[:4], alice.pk)
    assert {pk: after[pk] for pk in ids[4:7]} == dict.fromkeys(ids[4:7], bob.pk)
    assert all(after[pk] is None for pk in ids[7:])
    items = dict(operation.items.values_list("target_id", "argument"))
    assert items == {
        **dict.fromkeys(ids[:4], str(alice.pk)),
        **dict.fromkeys(ids[4:7], str(bob.pk)),
    }

    assert audit(operation, "account.assigned") == {
        pk: {"assigned_to": [None, after[pk]]} for pk in ids[:7]
    }


def test_the_draw_is_reproducible_from_the_stored_seed(supervisor, company, people):
    alice, bob = people["alice"], people["bob"]
    accounts = create_accounts(12, company=company)
    data = {"assignments": assignments((alice, 5), (bob, 4)), "credit_payments": "off"}
    operation = start(supervisor, "assign", accounts, data)
    drawn = set(operation.items.values_list("target_id", "argument"))
    queryset = Selection.from_dict(operation.selection).resolve(supervisor)

    def redraw(seed) -> set[tuple[int, str]]:
        replay = BulkOperation.objects.create(
            kind="assign",
            company=company,
            created_by=supervisor,
            parameters=operation.parameters,
            seed=seed,
        )
        AssignTo().snapshot(replay, queryset)
        return set(replay.items.values_list("target_id", "argument"))

    assert redraw(operation.seed) == drawn
    assert redraw(operation.seed) == drawn
    assert redraw(operation.seed + 1) != drawn  # another seed, another draw


def test_unassign_and_already_skips(supervisor, company, people):
    alice = people["alice"]
    with_alice = create_accounts(3, company=company, assigned_to=alice)
    nobody = create_accounts(2, company=company)

    operation = run(
        supervisor,
        "assign",
        with_alice + nobody,
        {"assignments": assignments(("unassign", 5)), "credit_payments": "all"},
    )
    assert assignees(with_alice + nobody) == [None] * 5
    assert (operation.succeeded, operation.skipped) == (3, 2)
    for account in nobody:
        assert outcome_of(operation, account) == (Outcome.SKIPPED, "Already unassigned")
    assert audit(operation, "account.assigned") == {
        a.pk: {"assigned_to": [alice.pk, None]} for a in with_alice
    }
    assert AssignTo().describe(operation.parameters) == "Assign To Unassign (5)"

    again = run(
        supervisor,
        "assign",
        nobody,
        {"assignments": assignments((alice, 2)), "credit_payments": "off"},
    )
    assert assignees(nobody) == [alice.pk] * 2
    third = run(
        supervisor,
        "assign",
        nobody,
        {"assignments": assignments((alice, 2)), "credit_payments": "off"},
    )
    assert again.succeeded == 2
    assert (third.succeeded, third.skipped) == (0, 2)
    assert {outcome_of(third, a) for a in nobody} == {
        (Outcome.SKIPPED, "Already assigned to Alice Adams")
    }
    assert audit(third, "account.assigned") == {}


def test_reassigning_records_the_previous_collector(supervisor, company, people):
    alice, bob = people["alice"], people["bob"]
    accounts = create_accounts(2, company=company, assigned_to=bob)
    operation = run(
        supervisor,
        "assign",
        accounts,
        {"assignments": assignments((alice, 2)), "credit_payments": "off"},
    )
    assert assignees(accounts) == [alice.pk] * 2
    assert audit(operation, "account.assigned") == {
        a.pk: {"assigned_to": [bob.pk, alice.pk]} for a in accounts
    }


@pytest.mark.parametrize(
    ("credit", "credited"),
    # "All" moves pending and posted payments; declined ones stay (a defect
    # fixed in issue 12: "All" used to move declined payments too).
    [("off", set()), ("all", {"pending", "posted", "bobs"}), ("pending", {"pending", "bobs"})],
)
def test_credit_payments(supervisor, company, people, credit, credited):
    alice, bob = people["alice"], people["bob"]
    account, untouched = create_accounts(2, company=company)
    payments = {
        "pending": record_payment(account=account, amount="10.00"),
        "declined": record_payment(account=account, amount="20.00"),
        "bobs": record_payment(account=account, amount="30.00", credited_to=bob),
        "elsewhere": record_payment(account=untouched, amount="40.00"),
        "posted": record_payment(account=account, amount="5.00"),
    }
    decline_payment(payment=payments["declined"], reason="NSF")
    post_payment(payment=payments["posted"])
    before = {name: p.credited_to_id for name, p in payments.items()}

    operation = run(
        supervisor,
        "assign",
        [account],
        {"assignments": assignments((alice, 1)), "credit_payments": credit},
    )

    after = {name: Payment.objects.get(pk=p.pk).credited_to_id for name, p in payments.items()}
    assert after == {name: alice.pk if name in credited else before[name] for name in payments}
    assert audit(operation, "payment.credited") == {
        payments[name].pk: {"credited_to": [before[name], alice.pk]} for name in credited
    }
    assert all(
        e.object_type == "billing.payment"
        for e in AuditEvent.objects.filter(action="payment.credited")
    )


def test_a_collector_deactivated_after_confirming_fails_their_accounts(supervisor, company, people):
    alice, bob = people["alice"], people["bob"]
    accounts = create_accounts(5, company=company)
    operation = start(
        supervisor,
        "assign",
        accounts,
        {"assignments": assignments((alice, 2), (bob, 3)), "credit_payments": "off"},
    )
    User.objects.filter(pk=alice.pk).update(is_active=False)
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    assert (operation.succeeded, operation.failed) == (3, 2)
    assert operation.status == BulkOperation.Status.FAILED
    failed = operation.items.filter(outcome=Outcome.FAILED)
    assert set(failed.values_list("argument", "reason")) == {
        (str(alice.pk), "The collector was deactivated after confirming.")
    }
    assert sorted(assignees(accounts), key=lambda v: v or 0) == [None] * 2 + [bob.pk] * 3


def test_string_counts_are_accepted(supervisor, company, people):
    accounts = create_accounts(3, company=company)
    raw = json.dumps([{"collector": str(people["alice"].pk), "count": " 2 "}])
    operation = run(
        supervisor, "assign", accounts, {"assignments": raw, "credit_payments": "pending"}
    )
    assert operation.parameters["assignments"][0]["count"] == 2
    assert operation.total == 2


AT_LEAST_ONE = "Add at least one collector (or Unassign) with the plus button."
WHOLE = "Each number of accounts must be a whole number."
POSITIVE = "Each number of accounts must be at least 1."
GONE = (
    "One of the collectors is no longer available (deactivated or not a collector of "
    "your company). Pick again."
)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        # Counts adding up to more than selected (5).
        ([("alice", 3), ("bob", 3)], "The counts add up to 6, more than the 5 accounts selected."),
        ([("alice", 6)], "The counts add up to 6, more than the 5 accounts selected."),
        # Negative, zero and non-numeric counts.
        ([("alice", -1)], POSITIVE),
        ([("alice", "-3")], POSITIVE),
        ([("alice", 0)], POSITIVE),
        ([("alice", "abc")], WHOLE),
        ([("alice", "")], WHOLE),
        ([("alice", 2.5)], WHOLE),
        ([("alice", True)], WHOLE),
        ([("alice", None)], WHOLE),
        # Collectors that cannot be picked.
        ([("carol", 1)], GONE),  # deactivated
        ([("dave", 1)], GONE),  # another company's collector
        ([("erin", 1)], GONE),  # not a collector
        ([("999999", 1)], GONE),
        ([("alice", 1), ("alice", 1)], "Each collector can appear only once."),
        ([("unassign", 1), ("unassign", 1)], "Each collector can appear only once."),
        # Malformed JSON.
        ("{", AT_LEAST_ONE),
        ("not json", AT_LEAST_ONE),
        ("[]", AT_LEAST_ONE),
        ("null", AT_LEAST_ONE),
        ('{"collector": "unassign", "count": 1}', AT_LEAST_ONE),
        ('["unassign"]', "The assignment list could not be read."),
        ("", AT_LEAST_ONE),
    ],
)
def test_assign_to_refuses_bad_assignments(supervisor, company, people, raw, error):
    accounts = create_accounts(5, company=company)
    if isinstance(raw, list):
        raw = json.dumps(
            [
                {
                    "collector": str(people[who].pk) if who in people else who,
                    "count": count,
                }
                for who, count in raw
            ]
        )
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(supervisor, "assign", accounts, {"assignments": raw, "credit_payments": "off"})
    assert excinfo.value.form.errors["assignments"] == [error]
    assert not BulkOperation.objects.exists()
    assert assignees(accounts) == [None] * 5


def test_a_collector_deactivated_after_the_dialog_opened_is_refused_at_confirm(
    supervisor, company, people
):
    accounts = create_accounts(2, company=company)
    data = {"assignments": assignments((people["bob"], 2)), "credit_payments": "off"}
    User.objects.filter(pk=people["bob"].pk).update(is_active=False)
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(supervisor, "assign", accounts, data)
    assert excinfo.value.form.errors["assignments"] == [GONE]


def test_assign_to_refuses_an_unknown_credit_option(supervisor, company, people):
    accounts = create_accounts(2, company=company)
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(
            supervisor,
            "assign",
            accounts,
            {"assignments": assignments((people["alice"], 1)), "credit_payments": "sometimes"},
        )
    assert "credit_payments" in excinfo.value.form.errors


def test_assign_form_lists_only_the_companys_active_collectors(supervisor, people):
    assert AssignToForm(user=supervisor).collectors == [people["alice"], people["bob"]]


def test_change_status_of_a_chunk_already_in_that_status_skips_all(supervisor, company, statuses):
    """Nothing to change in the chunk: every account is skipped, none fails."""
    accounts = create_accounts(4, company=company, status=statuses["default"])
    operation = run(supervisor, "change_status", accounts, {"status": statuses["default"].pk})
    operation.refresh_from_db()
    assert (operation.succeeded, operation.skipped, operation.failed) == (0, 4, 0)
    assert operation.status == BulkOperation.Status.SUCCEEDED
    assert {outcome_of(operation, a)[1] for a in accounts} == {
        f"Already {statuses['default'].name}"
    }
    assert audit(operation, "account.status_changed") == {}


def test_a_collector_moved_to_another_company_after_confirming_fails_their_accounts(
    supervisor, company, other_company, people
):
    alice = people["alice"]
    accounts = create_accounts(2, company=company)
    operation = start(
        supervisor,
        "assign",
        accounts,
        {"assignments": assignments((alice, 2)), "credit_payments": "off"},
    )
    User.objects.filter(pk=alice.pk).update(company=other_company)
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    assert operation.failed == 2
    assert assignees(accounts) == [None, None]
