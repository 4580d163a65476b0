"""Schedule Text Messages (seed 000) and Send Message (seed 001): one SMS,
call or email per reachable debtor, from a template or free text, now or
at a time; the confirmation's check lists who gets none and why (an SMS
over 140 characters once filled in among them); Ignore Max Per Minute only
with its permission, recorded on the messages and in the audit; the
approver sees sample messages; every bad input refused, nothing made."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ContactPoint, DebtorPhone
from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from bulkops import services
from bulkops.models import AuditEvent, BulkOperation
from bulkops.registry import get_action
from bulkops.selection import Selection
from communications.models import Message
from communications.services import (
    NO_MOBILE,
    PHONE_INVALID,
    SAME_DEBTOR,
    SMS_NO_CONSENT,
    SMS_OPTED_OUT,
    TOO_LONG,
    save_template,
)
from tests.factories import (
    AccountFactory,
    DebtorEmailFactory,
    DebtorFactory,
    DebtorPhoneFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(company):
    return UserFactory(company=company, role=ADMIN)


@pytest.fixture
def supervisor(company):
    return UserFactory(company=company, role=SUPERVISOR)


@pytest.fixture
def sms_template(admin):
    return save_template(
        user=admin,
        channel="sms",
        name="Nudge",
        body="Hi {{debtorFullName}}, call us. {{optOutText}}",
    )


@pytest.fixture
def audience(company):
    """ok: a consented mobile; shared: a second account of ok's debtor;
    long: a name that makes the SMS too long; the rest cannot be texted."""
    ok = AccountFactory(company=company, debtor=DebtorFactory(first_name="Zoë", last_name="Lee"))
    DebtorPhoneFactory(debtor=ok.debtor, number="+15555550101")
    shared = AccountFactory(company=company, debtor=ok.debtor)
    landline = AccountFactory(company=company)
    DebtorPhoneFactory(debtor=landline.debtor, phone_type=DebtorPhone.PhoneType.HOME)
    invalid = AccountFactory(company=company)
    DebtorPhoneFactory(debtor=invalid.debtor, validity=ContactPoint.Validity.INVALID)
    opted = AccountFactory(company=company)
    DebtorPhoneFactory(debtor=opted.debtor, sms_opted_out=True)
    unconsented = AccountFactory(company=company)
    DebtorPhoneFactory(debtor=unconsented.debtor, sms_consent=False)
    long = AccountFactory(
        company=company, debtor=DebtorFactory(first_name="B" * 60, last_name="C" * 60)
    )
    DebtorPhoneFactory(debtor=long.debtor)
    return {
        "ok": ok,
        "shared": shared,
        "landline": landline,
        "invalid": invalid,
        "opted": opted,
        "unconsented": unconsented,
        "long": long,
    }


def selection_of(accounts):
    return Selection("accounts", ids=frozenset(a.pk for a in accounts))


def start(user, accounts, key, data):
    """Confirm ``key`` as its dialog does, through its check step."""
    action = get_action(key)
    form = action.get_form(data, user=user, selected_count=len(accounts))
    if form.is_valid() and action.preview_template:
        data = {
            **data,
            "preview_token": services.preview_token(
                action, count=len(accounts), parameters=action.all_parameters(form)
            ),
        }
    return services.start_operation(
        user=user,
        action_key=key,
        selection=selection_of(accounts),
        confirmed_count=len(accounts),
        data=data,
        idempotency_key=uuid.uuid4().hex,
    )


def reasons(operation):
    return dict(
        operation.items.with_settled_outcome()
        .filter(settled_outcome="skipped")
        .values_list("target_id", "reason")
    )


def at(minutes=0):
    return (timezone.now() + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def test_schedule_text_messages_texts_each_reachable_debtor_once(
    supervisor, sms_template, audience
):
    operation = start(
        supervisor,
        list(audience.values()),
        "schedule_text_messages",
        {"template": str(sms_template.pk), "send_at": at()},
    )
    services.run_operation(operation.pk)
    operation.refresh_from_db()
    [message] = Message.objects.all()
    assert (message.channel, message.to, message.account) == ("sms", "+15555550101", audience["ok"])
    assert message.text == "Hi Zoë Lee, call us. Reply STOP to opt out."
    assert reasons(operation) == {
        audience["shared"].pk: SAME_DEBTOR,
        audience["landline"].pk: NO_MOBILE,
        audience["invalid"].pk: PHONE_INVALID,
        audience["opted"].pk: SMS_OPTED_OUT,
        audience["unconsented"].pk: SMS_NO_CONSENT,
        audience["long"].pk: TOO_LONG,
    }


def test_the_confirmation_lists_who_gets_no_text_and_why(supervisor, sms_template, audience):
    action = get_action("schedule_text_messages")
    form = action.get_form(
        {"template": str(sms_template.pk), "send_at": at()}, user=supervisor, selected_count=7
    )
    assert form.is_valid()
    check = action.preview_context(form, user=supervisor, selection=selection_of(audience.values()))
    assert (check["checked"], check["going"], check["skipped"]) == (7, 1, 6)
    assert [row.account for row in check["too_long"]] == [audience["long"]]
    assert dict(check["reasons"])[TOO_LONG] == 1
    assert check["samples"][0].text.startswith("Hi Zoë Lee")


def test_a_confirmation_that_skipped_the_check_is_refused(supervisor, sms_template, audience):
    with pytest.raises(services.OperationRefused):
        services.start_operation(
            user=supervisor,
            action_key="schedule_text_messages",
            selection=selection_of([audience["ok"]]),
            confirmed_count=1,
            data={"template": str(sms_template.pk), "send_at": at()},
            idempotency_key=uuid.uuid4().hex,
        )
    assert not BulkOperation.objects.exists()


def test_send_message_free_text_email_now(supervisor, company):
    account = AccountFactory(company=company, debtor=DebtorFactory(first_name="Ann"))
    DebtorEmailFactory(debtor=account.debtor, address="ann@example.net")
    operation = start(
        supervisor,
        [account],
        "send_message",
        {
            "channel": "email",
            "source": "free_text",
            "subject": "About {{fileNumber}}",
            "text": "Dear {{debtorFirstName}},\n\n<b>call</b> us & pay.\n\nStop: {{optOutLink}}",
            "when": "now",
        },
    )
    assert operation.run_at is None
    services.run_operation(operation.pk)
    [message] = Message.objects.all()
    assert message.subject == f"About {account.file_number}"
    assert message.text == "Dear Ann,\n\n<b>call</b> us & pay.\n\nStop: [opt-out link]"
    # The typed text is escaped in the HTML body: no markup gets through.
    assert message.html == (
        "<p>Dear Ann,</p>\n\n<p>&lt;b&gt;call&lt;/b&gt; us &amp; pay.</p>\n\n"
        "<p>Stop: [opt-out link]</p>"
    )
    assert not message.ignore_rate_limit


def test_send_message_voice_from_a_template_at_a_time(supervisor, admin, company):
    account = AccountFactory(company=company, debtor=DebtorFactory(first_name="Ann"))
    DebtorPhoneFactory(debtor=account.debtor, phone_type=DebtorPhone.PhoneType.HOME)
    script = save_template(
        user=admin, channel="voice", name="Call", body="Hello {{debtorFirstName}}."
    )
    operation = start(
        supervisor,
        [account],
        "send_message",
        {
            "channel": "voice",
            "source": "template",
            "template": str(script.pk),
            "when": "later",
            "send_at": at(30),
        },
    )
    assert operation.status == BulkOperation.Status.SCHEDULED
    BulkOperation.objects.filter(pk=operation.pk).update(run_at=timezone.now())
    services.release_scheduled_operations()
    services.run_operation(operation.pk)
    [message] = Message.objects.all()
    assert (message.channel, message.text) == ("voice", "Hello Ann.")
    assert message.send_after > timezone.now() + dt.timedelta(minutes=25)


def test_free_text_fills_custom_body_of_a_template_that_has_it(supervisor, admin, company):
    account = AccountFactory(company=company, debtor=DebtorFactory(first_name="Ann"))
    DebtorEmailFactory(debtor=account.debtor)
    template = save_template(
        user=admin,
        channel="email",
        name="Free",
        subject="Hello",
        html_body='<div>{{customBody}}</div><p><a href="{{optOutLink}}">Stop emails</a></p>',
        text_body="{{customBody}}\nStop emails: {{optOutLink}}",
    )
    data = {"channel": "email", "source": "template", "template": str(template.pk), "when": "now"}
    with pytest.raises(services.InvalidParameters) as refused:
        start(supervisor, [account], "send_message", data)
    assert "customBody" in str(refused.value.form.errors["text"])
    operation = start(
        supervisor, [account], "send_message", {**data, "text": "Pay by {{claimDueDate}} <now>"}
    )
    services.run_operation(operation.pk)
    [message] = Message.objects.all()
    assert message.html.startswith("<div><p>Pay by ") and "&lt;now&gt;" in message.html


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"channel": "sms", "source": "free_text", "text": "x" * 141}, "text", "at most 140"),
        ({"channel": "sms", "source": "free_text", "text": "<b>hi</b>"}, "text", "plain text"),
        ({"channel": "sms", "source": "free_text", "text": "Hi {{ssn}}"}, "text", "Unknown"),
        ({"channel": "sms", "source": "free_text", "text": "{% load x %}"}, "text", "tags"),
        ({"channel": "email", "source": "free_text", "text": "Hi"}, "subject", "subject"),
        ({"channel": "sms", "source": "free_text", "text": ""}, "text", "Write the message"),
        ({"channel": "sms", "source": "template"}, "template", "Choose a template"),
        (
            {"channel": "sms", "source": "free_text", "text": "Hi", "when": "later", "send_at": ""},
            "send_at",
            "Choose the send date",
        ),
    ],
)
def test_bad_send_message_input_is_refused(supervisor, audience, data, field, words):
    with pytest.raises(services.InvalidParameters) as refused:
        start(supervisor, [audience["ok"]], "send_message", {"when": "now", **data})
    assert words in str(refused.value.form.errors[field])
    assert not BulkOperation.objects.exists() and not Message.objects.exists()


def test_a_template_of_another_channel_or_company_is_refused(
    supervisor, admin, other_company, sms_template, audience
):
    data = {"channel": "email", "source": "template", "when": "now"}
    with pytest.raises(services.InvalidParameters) as refused:
        start(supervisor, [audience["ok"]], "send_message", {**data, "template": sms_template.pk})
    assert "SMS template" in str(refused.value.form.errors["template"])
    theirs = save_template(
        user=UserFactory(company=other_company, role=ADMIN),
        channel="sms",
        name="Theirs",
        body="Hello. Reply STOP to opt out.",
    )
    with pytest.raises(services.InvalidParameters):
        start(
            supervisor,
            [audience["ok"]],
            "send_message",
            {**data, "channel": "sms", "template": theirs.pk},
        )
    assert not BulkOperation.objects.exists()


def test_ignore_max_per_minute_needs_its_permission(company, supervisor, audience):
    data = {"channel": "sms", "source": "free_text", "text": "Hi. {{optOutText}}", "when": "now"}
    collector = UserFactory(company=company, role=COLLECTOR)
    action = get_action("send_message")
    assert "ignore_max_per_minute" not in action.get_form(user=collector).fields
    assert "ignore_max_per_minute" in action.get_form(user=supervisor).fields
    # A collector's forged tick is not a choice they have: it is ignored.
    mine = start(
        collector, [audience["ok"]], "send_message", {**data, "ignore_max_per_minute": "on"}
    )
    assert mine.parameters["ignore_max_per_minute"] is False
    assert mine.status == BulkOperation.Status.PENDING_APPROVAL

    theirs = start(
        supervisor, [audience["ok"]], "send_message", {**data, "ignore_max_per_minute": "on"}
    )
    services.run_operation(theirs.pk)
    [message] = Message.objects.filter(bulk_operation=theirs)
    assert message.ignore_rate_limit
    started = AuditEvent.objects.get(action="bulk_operation.started", bulk_operation=theirs)
    assert started.changes["ignore_max_per_minute"] == [None, True]
    assert "Ignore Max Per Minute" in get_action("send_message").describe(theirs.parameters)


def test_the_approver_sees_sample_messages(client, company, supervisor, sms_template, audience):
    collector = UserFactory(company=company, role=COLLECTOR)
    operation = start(
        collector,
        [audience["ok"], audience["opted"]],
        "schedule_text_messages",
        {"template": str(sms_template.pk), "send_at": at(60)},
    )
    assert operation.status == BulkOperation.Status.PENDING_APPROVAL
    client.force_login(supervisor)
    page = client.get(reverse("bulkops:approvals")).content.decode()
    assert "Sample messages" in page
    assert "Hi Zoë Lee, call us. Reply STOP to opt out." in page
    assert SMS_OPTED_OUT in page


def test_the_dialog_shows_the_check_step_and_the_placeholders(client, supervisor, sms_template):
    client.force_login(supervisor)
    dialog = client.get(reverse("bulkops:action-dialog", args=["send_message"])).content.decode()
    assert "Message type" in dialog and "Free text" in dialog and "Ignore Max Per Minute" in dialog
    assert "Check the messages" in dialog and "{{debtorFirstName}}" in dialog
