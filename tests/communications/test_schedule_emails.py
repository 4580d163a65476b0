"""Schedule Emails (seed 000): one email of the chosen template version per
debtor with a usable email, rendered for their account, sent from the
chosen time; the others skipped with the reason; a user who may not send
gets "Send for Approval" and the batch waits for a supervisor; bad send
times and another company's template are refused."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ContactPoint
from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from bulkops import services
from bulkops.models import BulkOperation
from bulkops.registry import get_action
from bulkops.selection import Selection
from communications import dispatch
from communications.models import Message, MessageState
from communications.services import (
    EMAIL_INVALID,
    EMAIL_NO_CONSENT,
    EMAIL_OPTED_OUT,
    NO_EMAIL,
    SAME_DEBTOR,
    save_template,
)
from tests.factories import AccountFactory, DebtorEmailFactory, DebtorFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(company):
    return UserFactory(company=company, role=ADMIN)


@pytest.fixture
def template(admin):
    return save_template(
        user=admin,
        channel="email",
        name="Reminder",
        subject="About {{fileNumber}}",
        html_body="<p>Dear {{debtorFirstName}}, you owe {{accountBalance}}.</p>"
        '<p><a href="{{optOutLink}}">Stop emails</a></p>',
        text_body="Dear {{debtorFirstName}}, you owe {{accountBalance}}.\nStop: {{optOutLink}}",
    )


def start(user, accounts, template, send_at, **data):
    return services.start_operation(
        user=user,
        action_key="schedule_emails",
        selection=Selection("accounts", ids=frozenset(a.pk for a in accounts)),
        confirmed_count=len(accounts),
        data={"template": str(template.pk), "send_at": send_at.strftime("%Y-%m-%dT%H:%M"), **data},
        idempotency_key=uuid.uuid4().hex,
    )


@pytest.fixture
def audience(company):
    """ok: a consented email; shared: a second account of ok's debtor; the
    rest cannot be emailed, each for its own reason."""
    ok = AccountFactory(
        company=company,
        debtor=DebtorFactory(first_name="Zoë"),
        current_balance=Decimal("12.50"),
    )
    DebtorEmailFactory(debtor=ok.debtor, address="zoe@example.net")
    shared = AccountFactory(company=company, debtor=ok.debtor)
    none = AccountFactory(company=company)
    invalid = AccountFactory(company=company)
    DebtorEmailFactory(debtor=invalid.debtor, validity=ContactPoint.Validity.INVALID)
    opted = AccountFactory(company=company)
    DebtorEmailFactory(debtor=opted.debtor, email_opted_out=True)
    unconsented = AccountFactory(company=company)
    DebtorEmailFactory(debtor=unconsented.debtor, email_consent=False)
    return {
        "ok": ok,
        "shared": shared,
        "none": none,
        "invalid": invalid,
        "opted": opted,
        "unconsented": unconsented,
    }


def reasons(operation):
    return dict(
        operation.items.with_settled_outcome()
        .filter(settled_outcome="skipped")
        .values_list("target_id", "reason")
    )


def test_a_supervisor_schedules_one_email_per_reachable_debtor(company, template, audience):
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    send_at = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=2)
    operation = start(supervisor, list(audience.values()), template, send_at)
    assert operation.status == BulkOperation.Status.SCHEDULED
    assert not Message.objects.exists()
    # At the run-at time beat releases it and a worker runs it.
    BulkOperation.objects.filter(pk=operation.pk).update(run_at=timezone.now())
    services.release_scheduled_operations()
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    [message] = Message.objects.all()
    assert (message.account, message.to, message.bulk_operation) == (
        audience["ok"],
        "zoe@example.net",
        operation,
    )
    assert message.subject == f"About {audience['ok'].file_number}"
    assert message.html == (
        '<p>Dear Zoë, you owe $12.50.</p><p><a href="[opt-out link]">Stop emails</a></p>'
    )
    assert message.text == "Dear Zoë, you owe $12.50.\nStop: [opt-out link]"
    assert message.send_after == send_at and message.state == MessageState.QUEUED
    assert message.template_version.version == 1
    assert reasons(operation) == {
        audience["shared"].pk: SAME_DEBTOR,
        audience["none"].pk: NO_EMAIL,
        audience["invalid"].pk: EMAIL_INVALID,
        audience["opted"].pk: EMAIL_OPTED_OUT,
        audience["unconsented"].pk: EMAIL_NO_CONSENT,
    }
    assert (operation.succeeded, operation.skipped) == (1, 5)


def test_the_batch_keeps_the_version_it_was_confirmed_with(company, admin, template, audience):
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    operation = start(supervisor, [audience["ok"]], template, timezone.now())
    save_template(user=admin, template=template, subject="Changed {{fileNumber}}")
    services.run_operation(operation.pk)
    [message] = Message.objects.all()
    assert message.subject.startswith("About ") and message.template_version.version == 1


def test_a_collector_sends_for_approval_and_a_supervisor_approves(company, template, audience):
    collector = UserFactory(company=company, role=COLLECTOR)
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    action = get_action("schedule_emails")
    assert action.confirm_label_for(collector) == "Send for Approval"
    assert action.confirm_label_for(supervisor) == "Schedule Emails"
    send_at = timezone.now() + dt.timedelta(hours=1)
    operation = start(collector, [audience["ok"]], template, send_at)
    assert operation.status == BulkOperation.Status.PENDING_APPROVAL
    assert not Message.objects.exists()
    with pytest.raises(services.OperationRefused):
        services.approve(user=collector, operation=operation)  # never one's own
    services.approve(user=supervisor, operation=operation)
    operation.refresh_from_db()
    assert operation.status == BulkOperation.Status.SCHEDULED


def test_scheduled_emails_go_out_at_their_time(company, template, audience, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    supervisor = UserFactory(company=company, role=SUPERVISOR)
    operation = start(supervisor, [audience["ok"]], template, timezone.now())
    services.run_operation(operation.pk)
    assert dispatch.send_due_messages() == 1
    assert [m.to for m in mail.outbox] == [["zoe@example.net"]]


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (dt.timedelta(hours=-1), "The send time has passed"),
        (dt.timedelta(days=36), "within 35 days"),
    ],
)
def test_a_send_time_in_the_past_or_too_far_ahead_is_refused(
    company, template, audience, when, message
):
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    with pytest.raises(services.InvalidParameters) as refused:
        start(supervisor, [audience["ok"]], template, timezone.now() + when)
    assert message in str(refused.value.form.errors["send_at"])
    assert not BulkOperation.objects.exists()


def test_another_companys_or_an_inactive_template_is_refused(
    company, other_company, template, audience
):
    outsider_admin = UserFactory(company=other_company, role=ADMIN)
    theirs = save_template(
        user=outsider_admin, channel="email", name="Theirs", subject="x", text_body="{{optOutLink}}"
    )
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    with pytest.raises(services.InvalidParameters):
        start(supervisor, [audience["ok"]], theirs, timezone.now())
    template.is_active = False
    template.save()
    with pytest.raises(services.InvalidParameters):
        start(supervisor, [audience["ok"]], template, timezone.now())
    assert not BulkOperation.objects.exists()


def test_the_dialog_offers_send_for_approval_to_a_collector(client, company, template, audience):
    collector = UserFactory(company=company, role=COLLECTOR)
    client.force_login(collector)
    response = client.get(reverse("bulkops:action-dialog", args=["schedule_emails"]))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Send for Approval" in content and "Reminder" in content
