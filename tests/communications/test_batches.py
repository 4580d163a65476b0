"""The Messages pages (issue 13): the company's message batches with their
messages' counts, a batch's page (counts per state and per rule, its
messages filtered and as CSV, Cancel), a message's page with its events and
the decision on an unknown one, the account page's Messages section and the
batch's result on the engine's page. Each company sees only its own."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import uuid

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from bulkops import services as bulk_services
from bulkops.models import AuditEvent, BulkOperation
from bulkops.selection import Selection
from communications import services
from communications.models import Message, MessageEvent, MessageState
from communications.selectors import BATCH_KINDS
from tests.factories import (
    AccountFactory,
    BulkOperationFactory,
    DebtorEmailFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

State = MessageState
_numbers = itertools.count(1)


def make_batch(user, *, kind="schedule_emails", status="succeeded", send_at=None, **parameters):
    send_at = send_at or timezone.now() + dt.timedelta(hours=1)
    return BulkOperationFactory(
        kind=kind,
        target="accounts",
        created_by=user,
        status=status,
        parameters={
            "send_at": send_at.isoformat(),
            "template": 1,
            "template_version": 1,
            "template_name": "Reminder",
            "version": 1,
            **parameters,
        },
    )


def make_messages(operation, n=1, *, state=State.QUEUED, channel="email", account=None, **fields):
    account = account or AccountFactory(company=operation.company)
    rows = []
    for _ in range(n):
        number = next(_numbers)
        rows.append(
            Message(
                company_id=account.company_id,
                account=account,
                channel=channel,
                to=fields.pop("to", None) or f"debtor{number}@example.net",
                subject=f"About {account.file_number}",
                text="Please call us.",
                state=state,
                bulk_operation=operation,
                **fields,
            )
        )
    return Message.objects.bulk_create(rows)


@pytest.fixture
def other_supervisor(other_company):
    return UserFactory(username="other-supervisor", company=other_company, role=SUPERVISOR)


def page(client, user, url, **params):
    client.force_login(user)
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


# --- roles and navigation -------------------------------------------------------------


def test_every_role_may_see_the_messages_and_the_nav_links_them_after_approvals(
    client, collector, supervisor, admin_user
):
    for user in (collector, supervisor, admin_user):
        assert user.has_perm("communications.view_message"), user.username
    assert Group.objects.get(name=COLLECTOR).permissions.filter(codename="view_message").exists()
    content = page(client, collector, reverse("messages:batches"))
    nav = content[content.index('aria-label="Main"') :]
    assert 0 < nav.index(">Approvals<") < nav.index(">Messages<")
    assert BATCH_KINDS == (
        "schedule_emails",
        "schedule_text_messages",
        "send_message",
        "send_debtor_message",
    )


# --- the list of batches ----------------------------------------------------------------


def test_each_company_sees_its_own_batches_newest_first_with_their_counts(
    client, supervisor, other_supervisor
):
    older = make_batch(supervisor)
    BulkOperation.objects.filter(pk=older.pk).update(
        created_at=timezone.now() - dt.timedelta(days=1)
    )
    newer = make_batch(supervisor, kind="schedule_text_messages")
    make_messages(older, 2, state=State.SENT)
    make_messages(older, 1, state=State.HELD, rule="rate_limit")
    make_messages(newer, 3, channel="sms", state=State.QUEUED)
    theirs = make_batch(other_supervisor)
    make_messages(theirs, 1)
    not_a_batch = BulkOperationFactory(created_by=supervisor, kind="stage")

    content = page(client, supervisor, reverse("messages:batches"))
    assert f'data-batch="{newer.pk}"' in content and f'data-batch="{older.pk}"' in content
    assert content.index(f'data-batch="{newer.pk}"') < content.index(f'data-batch="{older.pk}"')
    assert f'data-batch="{theirs.pk}"' not in content
    assert f'data-batch="{not_a_batch.pk}"' not in content
    assert "Schedule Emails “Reminder” (version 1)" in content
    older_row = content[content.index(f'data-batch="{older.pk}"') :].split("</tr>")[0]
    assert "Sent 2" in older_row and "Held 1" in older_row and "Email" in older_row
    newer_row = content[content.index(f'data-batch="{newer.pk}"') :].split("</tr>")[0]
    assert "Queued 3" in newer_row and "SMS" in newer_row

    superuser = UserFactory(username="root", company=None, is_superuser=True, is_staff=True)
    content = page(client, superuser, reverse("messages:batches"))
    assert f'data-batch="{theirs.pk}"' in content and f'data-batch="{older.pk}"' in content


def test_the_counts_of_a_page_of_batches_are_one_query(client, supervisor):
    def queries() -> int:
        client.force_login(supervisor)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("messages:batches")).status_code == 200
        return len(captured)

    make_messages(make_batch(supervisor), 2)
    one = queries()
    for _ in range(4):
        batch = make_batch(supervisor)
        make_messages(batch, 2, state=State.SENT)
        make_messages(batch, 1, state=State.FAILED)
    assert queries() == one


def test_the_batches_filter_by_status_channel_user_and_dates(client, company, supervisor):
    collector = UserFactory(company=company, role=COLLECTOR)
    email = make_batch(supervisor)
    sms = make_batch(collector, kind="schedule_text_messages", status="pending_approval")
    voice = make_batch(supervisor, kind="send_message", channel="voice", send_at=timezone.now())
    BulkOperation.objects.filter(pk=voice.pk).update(
        created_at=timezone.now() - dt.timedelta(days=10)
    )
    url = reverse("messages:batches")

    def shown(**params):
        content = page(client, supervisor, url, **params)
        return {b.pk for b in (email, sms, voice) if f'data-batch="{b.pk}"' in content}

    assert shown() == {email.pk, sms.pk, voice.pk}
    assert shown(status="pending_approval") == {sms.pk}
    assert shown(channel="sms") == {sms.pk}
    assert shown(channel="voice") == {voice.pk}
    assert shown(channel="email") == {email.pk}
    assert shown(created_by=str(collector.pk)) == {sms.pk}
    today = timezone.localdate()
    assert shown(created_after=str(today - dt.timedelta(days=1))) == {email.pk, sms.pk}
    assert shown(created_before=str(today - dt.timedelta(days=5))) == {voice.pk}


@pytest.mark.parametrize(
    "params",
    [
        {"status": "exploded"},
        {"channel": "pigeon"},
        {"created_by": "abc"},
        {"created_by": "99999999999999999999999"},
        {"created_after": "2024-13-45"},
        {"created_before": "9999-01-01"},
        {"page": "zz"},
    ],
)
def test_bad_filter_values_are_ignored_with_a_notice(client, supervisor, params):
    batch = make_batch(supervisor)
    content = page(client, supervisor, reverse("messages:batches"), **params)
    assert f'data-batch="{batch.pk}"' in content
    if "page" not in params:
        assert "This filter is ignored." in content


def test_another_companys_user_is_no_choice_of_the_user_filter(
    client, supervisor, other_supervisor
):
    ours = make_batch(supervisor)
    theirs = make_batch(other_supervisor)
    content = page(
        client, supervisor, reverse("messages:batches"), created_by=str(other_supervisor.pk)
    )
    assert "This filter is ignored." in content
    assert f'data-batch="{ours.pk}"' in content and f'data-batch="{theirs.pk}"' not in content


# --- a batch's page ---------------------------------------------------------------------


def test_the_batch_page_counts_per_state_and_per_rule_and_refreshes_while_sending(
    client, supervisor
):
    batch = make_batch(supervisor)
    make_messages(batch, 2, state=State.SENT)
    make_messages(
        batch, 3, state=State.HELD, rule="rate_limit", reason="Office A sends at most 10 a minute"
    )
    make_messages(batch, 1, state=State.HELD, rule="provider", reason="Waiting to retry")
    make_messages(batch, 1, state=State.SUPPRESSED, rule="contact_point", reason="Opted out")
    make_messages(batch, 2, state=State.UNKNOWN, error="Unknown: timeout")
    content = page(client, supervisor, reverse("messages:batch", args=[batch.pk]))
    assert "Schedule Emails “Reminder” (version 1)" in content
    assert reverse("bulkops:operation-detail", args=[batch.pk]) in content
    counts = content[content.index('data-testid="state-counts"') :].split("</table>")[0]
    for state, label, n in [("sent", "Sent", 2), ("held", "Held", 4), ("unknown", "Unknown", 2)]:
        assert f'data-state="{state}"' in counts
        row = counts[counts.index(f'data-state="{state}"') :].split("</tr>")[0]
        assert f">{label}</a>" in row and f">{n}<" in row
    held = content[content.index('data-testid="held-rules"') :].split("</table>")[0]
    assert "Rate limit" in held and "Office A sends at most 10 a minute" in held and ">3<" in held
    assert "Provider" in held and ">1<" in held
    suppressed = content[content.index('data-testid="suppressed-rules"') :].split("</table>")[0]
    assert "Address or number not usable" in suppressed and "Opted out (1)" in suppressed
    unknown = content[content.index('data-testid="unknown-count"') :].split("</div>")[0]
    assert "2 messages with an unknown fate" in unknown
    assert f"{reverse('messages:batch', args=[batch.pk])}?state=unknown" in unknown
    # Held messages are still on their way: the counts poll.
    assert f'hx-get="{reverse("messages:batch-counts", args=[batch.pk])}"' in content

    fragment = client.get(reverse("messages:batch-counts", args=[batch.pk]))
    assert fragment.status_code == 200
    assert 'data-polling="true"' in fragment.content.decode()
    Message.objects.filter(bulk_operation=batch, state=State.HELD).update(state=State.SENT)
    fragment = client.get(reverse("messages:batch-counts", args=[batch.pk]))
    assert fragment.status_code == 286  # htmx stops polling
    assert "hx-get" not in fragment.content.decode()


def test_the_batch_page_filters_its_messages_by_state_and_recipient(client, supervisor):
    batch = make_batch(supervisor)
    [sent] = make_messages(batch, state=State.SENT, to="zoe@example.net")
    [held] = make_messages(batch, state=State.HELD, to="yann@example.net")
    [other] = make_messages(batch, state=State.SENT, to="xavier@example.org")
    url = reverse("messages:batch", args=[batch.pk])

    def shown(**params):
        content = page(client, supervisor, url, **params)
        return {m.pk for m in (sent, held, other) if f'data-message="{m.pk}"' in content}, content

    assert shown()[0] == {sent.pk, held.pk, other.pk}
    assert shown(state="held")[0] == {held.pk}
    assert shown(recipient="ZOE@")[0] == {sent.pk}
    assert shown(state="sent", recipient="example.org")[0] == {other.pk}
    found, content = shown(state="nonsense")
    assert found == {sent.pk, held.pk, other.pk} and "This filter is ignored." in content
    found, content = shown(recipient="x" * 300)
    assert found == {sent.pk, held.pk, other.pk} and "This filter is ignored." in content
    assert reverse("messages:message", args=[sent.pk]) in content


def test_the_batch_messages_are_paged_by_fifty(client, supervisor):
    batch = make_batch(supervisor)
    make_messages(batch, 51)
    url = reverse("messages:batch", args=[batch.pk])
    assert page(client, supervisor, url).count("data-message=") == 50
    assert page(client, supervisor, url, page="2").count("data-message=") == 1
    assert page(client, supervisor, url, page="999").count("data-message=") == 1


def test_another_companys_batch_and_message_are_not_found(client, supervisor, other_supervisor):
    theirs = make_batch(other_supervisor)
    [their_message] = make_messages(theirs)
    not_a_batch = BulkOperationFactory(created_by=supervisor, kind="stage")
    client.force_login(supervisor)
    for url in [
        reverse("messages:batch", args=[theirs.pk]),
        reverse("messages:batch-counts", args=[theirs.pk]),
        reverse("messages:batch-csv", args=[theirs.pk]),
        reverse("messages:batch", args=[not_a_batch.pk]),
        reverse("messages:message", args=[their_message.pk]),
        reverse("messages:message-html", args=[their_message.pk]),
        reverse("messages:batch", args=[999_999_999]),
        "/messages/batches/99999999999999999999999/",
    ]:
        assert client.get(url).status_code == 404, url
    for url in [
        reverse("messages:batch-cancel", args=[theirs.pk]),
        reverse("messages:message-decide", args=[their_message.pk]),
    ]:
        assert client.post(url, {"decision": "sent", "note": "x"}).status_code == 404, url
    their_message.refresh_from_db()
    assert their_message.state == State.QUEUED


def test_the_csv_has_the_filtered_messages_with_formulas_made_inert(client, supervisor):
    batch = make_batch(supervisor)
    account = AccountFactory(company=supervisor.company)
    [held] = make_messages(
        batch,
        account=account,
        state=State.HELD,
        to='=HYPERLINK("http://evil")@example.net',
        rule="rate_limit",
        reason="+1 minute",
        error="-oops",
        provider_id="@id",
    )
    [sent] = make_messages(batch, account=account, state=State.SENT, provider_id="SM123")
    Message.objects.filter(pk=sent.pk).update(sent_at=timezone.now())
    client.force_login(supervisor)
    response = client.get(reverse("messages:batch-csv", args=[batch.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"message-batch-{batch.pk}.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "ID",
        "File Number",
        "Channel",
        "Recipient",
        "State",
        "Rule",
        "Reason",
        "Provider ID",
        "Error",
        "Sent At",
        "Last Change",
    ]
    assert [row[0] for row in rows[1:]] == [str(held.pk), str(sent.pk)]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["File Number"] == account.file_number
    assert first["Channel"] == "Email" and first["State"] == "Held"
    assert first["Recipient"] == '\'=HYPERLINK("http://evil")@example.net'
    assert first["Reason"] == "'+1 minute"
    assert first["Error"] == "'-oops"
    assert first["Provider ID"] == "'@id"
    assert first["Rule"] == "rate_limit" and first["Sent At"] == ""
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["Provider ID"] == "SM123" and second["Sent At"]
    assert dt.datetime.fromisoformat(second["Last Change"]).tzinfo is not None

    # The page's filter is the file's.
    response = client.get(reverse("messages:batch-csv", args=[batch.pk]), {"state": "sent"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[0] for row in rows[1:]] == [str(sent.pk)]


# --- Cancel -------------------------------------------------------------------------------


def test_cancel_stops_what_is_not_sent_yet_once_and_says_how_many(client, supervisor):
    batch = make_batch(supervisor)
    queued = make_messages(batch, 2, state=State.QUEUED)
    held = make_messages(batch, 1, state=State.HELD, rule="rate_limit", reason="next minute")
    sent = make_messages(batch, 1, state=State.SENT)
    sending = make_messages(batch, 1, state=State.SENDING)
    other_batch = make_batch(supervisor)
    untouched = make_messages(other_batch, 1, state=State.QUEUED)
    client.force_login(supervisor)

    response = client.post(reverse("messages:batch-cancel", args=[batch.pk]), follow=True)
    assert response.status_code == 200
    assert "Cancelled 3 messages not sent yet" in response.content.decode()
    states = dict(Message.objects.values_list("pk", "state"))
    assert {states[m.pk] for m in queued + held} == {State.CANCELLED}
    assert states[sent[0].pk] == State.SENT and states[sending[0].pk] == State.SENDING
    assert states[untouched[0].pk] == State.QUEUED
    events = MessageEvent.objects.filter(state=State.CANCELLED)
    assert sorted(events.values_list("message_id", flat=True)) == sorted(
        m.pk for m in queued + held
    )
    assert Message.objects.get(pk=held[0].pk).rule == ""
    [audit] = AuditEvent.objects.filter(action="message_batch.cancelled")
    assert (audit.actor_id, audit.bulk_operation_id, audit.company_id) == (
        supervisor.pk,
        batch.pk,
        supervisor.company_id,
    )
    assert audit.changes == {"cancelled_messages": [0, 3]}

    # A second click (a stale page, a double submit) cancels nothing more.
    response = client.post(reverse("messages:batch-cancel", args=[batch.pk]), follow=True)
    assert "Nothing to cancel" in response.content.decode()
    assert MessageEvent.objects.filter(state=State.CANCELLED).count() == 3
    assert AuditEvent.objects.filter(action="message_batch.cancelled").count() == 1
    assert services.cancel_batch(user=supervisor, operation=batch) == 0


def test_cancel_is_set_based(supervisor):
    def statements(n: int) -> int:
        batch = make_batch(supervisor)
        make_messages(batch, n)
        with CaptureQueriesContext(connection) as captured:
            assert services.cancel_batch(user=supervisor, operation=batch) == n
        return len(captured)

    statements(1)  # the user's permissions are read once, then cached
    assert statements(2) == statements(40)


def test_the_requester_may_cancel_their_batch_and_other_collectors_may_not(client, company):
    requester = UserFactory(company=company, role=COLLECTOR)
    colleague = UserFactory(company=company, role=COLLECTOR)
    batch = make_batch(requester)
    make_messages(batch, 2)
    url = reverse("messages:batch", args=[batch.pk])
    assert "Cancel messages not sent yet" not in page(client, colleague, url)
    assert client.post(reverse("messages:batch-cancel", args=[batch.pk])).status_code == 403
    assert not Message.objects.filter(state=State.CANCELLED).exists()
    assert "Cancel messages not sent yet" in page(client, requester, url)
    response = client.post(
        reverse("messages:batch-cancel", args=[batch.pk]),
        {"query": "state=queued&x=\r\nLocation: http://evil"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(f"{url}?state=queued&x=")
    assert "\n" not in response["Location"]
    response = client.get(response["Location"])
    assert "Cancelled 2 messages" in response.content.decode()


def test_cancel_also_stops_a_batch_that_has_not_run_yet(supervisor):
    batch = make_batch(supervisor, status="scheduled")
    assert services.cancel_batch(user=supervisor, operation=batch) == 0
    batch.refresh_from_db()
    assert batch.status == BulkOperation.Status.CANCELLED


def test_the_batch_queued_by_schedule_emails_is_listed_and_its_result_links_it(
    client, company, supervisor
):
    admin = UserFactory(company=company, role=ADMIN)
    template = services.save_template(
        user=admin,
        channel="email",
        name="Reminder",
        subject="Hello",
        text_body="Please call. Stop emails: {{optOutLink}}",
    )
    account = AccountFactory(company=company)
    DebtorEmailFactory(debtor=account.debtor, address="zoe@example.net")
    operation = bulk_services.start_operation(
        user=supervisor,
        action_key="schedule_emails",
        selection=Selection("accounts", ids=frozenset([account.pk])),
        confirmed_count=1,
        data={
            "template": str(template.pk),
            "send_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        },
        idempotency_key=uuid.uuid4().hex,
    )
    bulk_services.run_operation(operation.pk)
    [message] = Message.objects.filter(bulk_operation=operation)
    content = page(client, supervisor, reverse("messages:batches"))
    assert f'data-batch="{operation.pk}"' in content
    content = page(client, supervisor, reverse("messages:batch", args=[operation.pk]))
    assert f'data-message="{message.pk}"' in content and "zoe@example.net" in content

    # The engine's page shows the batch's result with a link here.
    content = page(client, supervisor, reverse("bulkops:operation-detail", args=[operation.pk]))
    result = content[content.index('data-testid="batch-result"') :]
    assert "Queued 1" in result
    assert f'href="{reverse("messages:batch", args=[operation.pk])}"' in result
    assert "Messages of this batch" in result


# --- a message, and the decision on an unknown one ----------------------------------------


def test_the_message_page_shows_its_content_details_and_events(client, supervisor):
    batch = make_batch(supervisor)
    [message] = make_messages(
        batch,
        state=State.DELIVERED,
        html="<p>Dear Zoë</p>",
        provider_id="SM42",
        attempts=1,
        to="zoe@example.net",
    )
    MessageEvent.objects.create(message=message, state=State.SENDING)
    MessageEvent.objects.create(message=message, state=State.DELIVERED, source="twilio")
    MessageEvent.objects.create(message=message, state=State.SENT, source="twilio", applied=False)
    content = page(client, supervisor, reverse("messages:message", args=[message.pk]))
    assert "zoe@example.net" in content and "SM42" in content and "Please call us." in content
    assert f'src="{reverse("messages:message-html", args=[message.pk])}"' in content
    assert "sandbox" in content
    events = content[content.index('data-testid="message-events"') :].split("</table>")[0]
    assert events.count("<tr") == 4  # the header and three events
    assert events.count("arrived late, changed nothing") == 1
    assert "Mark as sent" not in content

    html = client.get(reverse("messages:message-html", args=[message.pk]))
    assert html.status_code == 200 and html.content.decode() == "<p>Dear Zoë</p>"
    assert html["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
    [no_html] = make_messages(batch, state=State.SENT)
    assert client.get(reverse("messages:message-html", args=[no_html.pk])).status_code == 404


def decide(client, message, decision, note="Checked the provider's log"):
    return client.post(
        reverse("messages:message-decide", args=[message.pk]),
        {"decision": decision, "note": note},
        follow=True,
    )


def test_a_supervisor_marks_an_unknown_message_as_sent_with_a_note(client, supervisor):
    batch = make_batch(supervisor)
    [message] = make_messages(batch, state=State.UNKNOWN, error="Unknown: timeout", attempts=1)
    taken = timezone.now() - dt.timedelta(minutes=10)
    MessageEvent.objects.create(message=message, state=State.SENDING, occurred_at=taken)
    content = page(client, supervisor, reverse("messages:message", args=[message.pk]))
    assert "Mark as sent" in content and "Send again" in content

    response = decide(client, message, "sent", note="   ")
    assert "Write a note" in response.content.decode()
    message.refresh_from_db()
    assert message.state == State.UNKNOWN

    response = decide(client, message, "sent", note="The provider's log shows it delivered")
    assert "Marked as sent." in response.content.decode()
    message.refresh_from_db()
    assert (message.state, message.sent_at, message.error) == (State.SENT, taken, "")
    event = message.events.order_by("-pk").first()
    assert event.state == State.SENT and "The provider's log shows it delivered" in event.detail
    [audit] = AuditEvent.objects.filter(action="message.marked_sent")
    assert audit.object_id == message.pk and audit.actor_id == supervisor.pk
    assert audit.changes["state"] == ["unknown", "sent"]
    assert audit.changes["note"] == [None, "The provider's log shows it delivered"]

    # Deciding again (a double submit, a stale page) changes nothing and says so.
    response = decide(client, message, "resend")
    assert "no longer unknown: nothing was changed" in response.content.decode()
    message.refresh_from_db()
    assert message.state == State.SENT
    assert AuditEvent.objects.filter(object_type="communications.message").count() == 1


def test_send_again_queues_an_unknown_message_at_once(client, supervisor):
    batch = make_batch(supervisor)
    later = timezone.now() + dt.timedelta(days=1)
    [message] = make_messages(batch, state=State.UNKNOWN, send_after=later, attempts=1)
    client.force_login(supervisor)
    response = decide(client, message, "resend", note="Not in the provider's log")
    assert "Queued to be sent again." in response.content.decode()
    message.refresh_from_db()
    assert message.state == State.QUEUED and message.send_after <= timezone.now()
    assert AuditEvent.objects.filter(action="message.sent_again", object_id=message.pk).exists()
    # The batch page counts it as queued again.
    content = page(client, supervisor, reverse("messages:batch", args=[batch.pk]))
    assert 'data-testid="unknown-count"' not in content


def test_only_who_may_send_decides_an_unknown_message(client, company, supervisor):
    collector = UserFactory(company=company, role=COLLECTOR)
    batch = make_batch(collector)
    [message] = make_messages(batch, state=State.UNKNOWN)
    content = page(client, collector, reverse("messages:message", args=[message.pk]))
    assert "Nobody knows whether this message was sent." in content
    assert "Mark as sent" not in content
    response = client.post(
        reverse("messages:message-decide", args=[message.pk]), {"decision": "sent", "note": "x"}
    )
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.state == State.UNKNOWN
    client.force_login(supervisor)
    response = decide(client, message, "explode")
    assert "Choose Mark as sent or Send again." in response.content.decode()
    message.refresh_from_db()
    assert message.state == State.UNKNOWN


def test_a_message_that_is_not_unknown_is_not_decided(supervisor):
    batch = make_batch(supervisor)
    [message] = make_messages(batch, state=State.QUEUED)
    with pytest.raises(ValidationError, match="no longer unknown"):
        services.decide_unknown_message(
            user=supervisor, message=message, decision="sent", note="why"
        )


# --- the account page ---------------------------------------------------------------------


def test_the_account_page_lists_the_accounts_latest_messages(client, company, collector):
    account = AccountFactory(company=company)
    batch = make_batch(collector)
    messages = make_messages(batch, 21, account=account, state=State.SENT)
    Message.objects.filter(pk=messages[0].pk).update(created_at=timezone.now() - dt.timedelta(1))
    other_account = AccountFactory(company=company)
    [elsewhere] = make_messages(batch, account=other_account)
    content = page(client, collector, reverse("accounts:detail", args=[account.pk]))
    section = content[content.index('data-testid="account-messages"') :].split("</section>")[0]
    assert "Messages" in section
    for message in messages[1:]:
        assert f'href="{reverse("messages:message", args=[message.pk])}"' in section
    assert f'href="{reverse("messages:message", args=[messages[0].pk])}"' not in section
    assert f'href="{reverse("messages:message", args=[elsewhere.pk])}"' not in section
    assert "The latest 20." in section and "Sent" in section
