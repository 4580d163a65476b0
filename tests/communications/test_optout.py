"""Opt-out in every message (Regulation F, 12 CFR 1006.6(e)): an email
template needs {{optOutLink}} and an SMS template "Reply STOP to opt out";
each email is sent with its own signed link in its bodies and in the
List-Unsubscribe headers (RFC 8058); the link's page opts the address out
on POST (the page's button or a mail client's one-click POST, without a
CSRF token) and suppresses what still waits to go there, once; a changed or
expired link changes nothing and says so."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import DebtorEmail
from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from bulkops import services as bulk
from bulkops.models import AuditEvent, BulkOperation
from bulkops.selection import Selection
from communications import dispatch, optout, services
from communications.models import (
    Message,
    MessageEvent,
    MessageState,
    MessageTemplate,
    MessageTemplateVersion,
)
from communications.placeholders import OPT_OUT_LINK_MARKER
from tests.communications.test_queue_sql import run_both
from tests.communications.test_schedule_emails import start
from tests.conftest import Client
from tests.factories import AccountFactory, DebtorEmailFactory, DebtorFactory, UserFactory

pytestmark = pytest.mark.django_db

State = MessageState
LINKED_HTML = '<p>Dear {{debtorFirstName}},</p><p><a href="{{optOutLink}}">Stop emails</a></p>'
LINKED_TEXT = "Dear {{debtorFirstName}},\nStop emails: {{optOutLink}}"
NEEDS_LINK = "An email must carry the opt-out link: add {{optOutLink}}."
NEEDS_STOP = "A text message must say how to opt out: add “Reply STOP to opt out”."


@pytest.fixture
def admin(company):
    return UserFactory(company=company, role=ADMIN)


@pytest.fixture
def template(admin):
    return services.save_template(
        user=admin,
        channel="email",
        name="Reminder",
        subject="About {{fileNumber}}",
        html_body=LINKED_HTML,
        text_body=LINKED_TEXT,
    )


@pytest.fixture
def account(company):
    account = AccountFactory(company=company, debtor=DebtorFactory(first_name="Zoë"))
    DebtorEmailFactory(debtor=account.debtor, address="zoe@example.net")
    return account


def email_to(account, to="zoe@example.net", **fields) -> Message:
    values = {
        "company": account.company,
        "account": account,
        "channel": "email",
        "to": to,
        "subject": "Your account",
        "text": f"Stop emails: {OPT_OUT_LINK_MARKER}",
        "html": f'<p><a href="{OPT_OUT_LINK_MARKER}">Stop emails</a></p>',
    }
    return Message.objects.create(**(values | fields))


def link(message) -> str:
    return reverse("optout", args=[optout.token_for(message)])


def snapshot():
    """Everything an opt-out may change: the addresses' opt-out fields, the
    messages' states and their events, the audit trail."""
    return (
        list(
            DebtorEmail.objects.order_by("pk").values_list(
                "pk", "email_opted_out", "email_opted_out_at", "email_opt_out_source"
            )
        ),
        list(Message.objects.order_by("pk").values_list("pk", "state", "state_changed_at")),
        MessageEvent.objects.count(),
        AuditEvent.objects.count(),
    )


# --- templates and free text must carry the opt-out ---------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"html_body": "<p>Hi</p>", "text_body": LINKED_TEXT}, "html_body"),
        ({"html_body": LINKED_HTML, "text_body": "Hi"}, "text_body"),
        ({"html_body": "<p>Hi</p>"}, "html_body"),
        ({"text_body": "Hi {{ optOutText }}"}, "text_body"),
    ],
)
def test_an_email_template_without_the_link_is_refused(admin, fields, field):
    with pytest.raises(ValidationError) as refused:
        services.save_template(user=admin, channel="email", name="T", subject="s", **fields)
    assert NEEDS_LINK in refused.value.message_dict[field]


def test_an_email_template_with_the_link_in_each_body_is_saved(admin):
    saved = services.save_template(
        user=admin, channel="email", name="T", subject="s", text_body="Stop: {{ optOutLink }}"
    )
    assert saved.versions.count() == 1


@pytest.mark.parametrize(
    ("body", "saved"),
    [
        ("Please call us.", False),
        ("Please call us. Reply STOP to stop.", False),
        ("Please call us. Reply STOP to opt out.", True),
        ("Please call us. reply  stop\nto OPT out", True),
        ("Please call us. {{optOutText}}", True),
    ],
)
def test_an_sms_template_must_say_how_to_opt_out(admin, body, saved):
    if saved:
        services.save_template(user=admin, channel="sms", name="T", body=body)
        return
    with pytest.raises(ValidationError) as refused:
        services.save_template(user=admin, channel="sms", name="T", body=body)
    assert refused.value.message_dict["body"] == [NEEDS_STOP]


def test_a_voice_script_needs_no_opt_out(admin):
    services.save_template(user=admin, channel="voice", name="T", body="Please call us back.")


def test_the_editor_says_why_a_template_was_not_saved(client, admin):
    client.force_login(admin)
    url = reverse("communications:template-create", args=["email"])
    response = client.post(
        url, {"name": "T", "locale": "en-US", "subject": "s", "text_body": "Please call."}
    )
    assert response.status_code == 200
    assert "An email must carry the opt-out link: add {{optOutLink}}." in response.content.decode()


def test_free_text_must_carry_the_opt_out_itself():
    email = services.Content.free_text("email", text="Please call.", subject="s")
    assert email.problems() == {"text_body": [NEEDS_LINK]}
    sms = services.Content.free_text("sms", text="Please call.")
    assert sms.problems() == {"body": [NEEDS_STOP]}
    assert not services.Content.free_text(
        "email", text="Stop: {{optOutLink}}", subject="s"
    ).problems()
    assert not services.Content.free_text("sms", text="Call. Reply STOP to opt out").problems()
    # A template wrapping the free text carries the opt-out for it.
    wrapped = services.Content("email", subject="s", text=LINKED_TEXT, custom_body="Please call.")
    assert not wrapped.problems()


def test_content_without_the_opt_out_is_never_queued(account):
    content = services.Content("email", subject="s", html="<p>Hi</p>", text="Hi")
    with pytest.raises(ValidationError):
        services.queue_messages(
            account_ids=[account.pk], content=content, send_after=timezone.now()
        )
    assert not Message.objects.exists()


# --- the marker: the same from the database and from Python ---------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL path is PostgreSQL's")
def test_the_sql_path_and_the_python_path_leave_the_same_marker(monkeypatch, company, account):
    content = services.Content(
        "email", subject="About {{fileNumber}}", html=LINKED_HTML, text=LINKED_TEXT
    )
    (sql_rows, _), (py_rows, _) = run_both(monkeypatch, company, [account.pk], content)
    assert sql_rows == py_rows
    [row] = sql_rows
    text, html = row[6], row[7]
    assert text == f"Dear Zoë,\nStop emails: {OPT_OUT_LINK_MARKER}"
    assert html == f'<p>Dear Zoë,</p><p><a href="{OPT_OUT_LINK_MARKER}">Stop emails</a></p>'


def test_the_marker_survives_html_escaping_and_free_text_paragraphs(account):
    free = services.Content.free_text("email", text="Hi\n\nStop: {{optOutLink}}", subject="s")
    services.queue_messages(account_ids=[account.pk], content=free, send_after=timezone.now())
    message = Message.objects.get()
    assert message.text == f"Hi\n\nStop: {OPT_OUT_LINK_MARKER}"
    assert message.html == f"<p>Hi</p>\n\n<p>Stop: {OPT_OUT_LINK_MARKER}</p>"


# --- the token ------------------------------------------------------------------------------


def test_a_token_names_its_message(account):
    message = email_to(account)
    assert optout.message_for(optout.token_for(message)) == message


def test_a_changed_token_names_no_message(account):
    message, other = email_to(account), email_to(account)
    token = optout.token_for(message)
    value, signature = token.rsplit(":", 1)
    assert optout.message_for(f"{value}:{signature[:-1]}x") is None  # another signature
    assert optout.message_for(token.replace(f"{message.pk}:", f"{other.pk}:", 1)) is None
    assert optout.message_for("nonsense") is None
    # Another purpose's signature of the same value is not an opt-out token.
    assert optout.message_for(signing.TimestampSigner(salt="other").sign(str(message.pk))) is None


def test_an_sms_has_no_opt_out_link(account):
    sms = Message.objects.create(
        company=account.company, account=account, channel="sms", to="+15555550123", text="Hi"
    )
    assert optout.message_for(optout.token_for(sms)) is None


def signed_days_ago(monkeypatch, message, days: int) -> str:
    then = int(time.time()) - days * 86400
    with monkeypatch.context() as patch:
        patch.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(then))
        return optout.token_for(message)


def test_a_token_expires_after_the_configured_days(monkeypatch, settings, account):
    message = email_to(account)
    settings.OPT_OUT_LINK_MAX_AGE_DAYS = 90
    assert optout.message_for(signed_days_ago(monkeypatch, message, 89)) == message
    with pytest.raises(optout.LinkExpired) as expired:
        optout.message_for(signed_days_ago(monkeypatch, message, 91))
    assert expired.value.message == message


def test_the_link_is_absolute_on_the_public_address(settings, account):
    settings.PUBLIC_URL = "https://collections.example.com/"
    message = email_to(account)
    assert optout.url_for(message) == "https://collections.example.com" + link(message)


# --- the page -----------------------------------------------------------------------------


def test_opening_the_link_asks_and_changes_nothing(client, account):
    message = email_to(account)
    before = snapshot()
    response = client.get(link(message))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Opt out of emails" in page and "zoe@example.net" in page
    assert 'type="submit">Opt out of emails</button>' in page
    assert "csrfmiddlewaretoken" in page
    assert "<script" not in page  # nothing for the policy to refuse, nothing needed
    assert response["Cache-Control"].startswith("max-age=0")
    assert client.head(link(message)).status_code == 200
    assert snapshot() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_changed_link_is_refused_and_changes_nothing(client, account, method):
    message = email_to(account)
    token = optout.token_for(message)
    before = snapshot()
    response = getattr(client, method)(reverse("optout", args=[token[:-2] + "zz"]))
    assert response.status_code == 400
    assert "This opt-out link is not valid" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_expired_link_says_how_else_to_opt_out(monkeypatch, client, account, method):
    message = email_to(account)
    token = signed_days_ago(monkeypatch, message, 120)
    before = snapshot()
    response = getattr(client, method)(reverse("optout", args=[token]))
    assert response.status_code == 410
    page = response.content.decode()
    assert "This opt-out link has expired" in page
    assert f"from {account.company.name}" in page and "reply to the email" in page
    assert "call us" in page
    assert snapshot() == before


@pytest.fixture
def mailbox(company, account):
    """The debtor's address in two spellings, another of their addresses,
    another debtor at the same address, and the messages to each."""
    debtor = account.debtor
    same_address = DebtorEmailFactory(debtor=debtor, address="ZOE@Example.NET", is_primary=False)
    other_address = DebtorEmailFactory(debtor=debtor, address="zoe@work.example", is_primary=False)
    second_account = AccountFactory(company=company, debtor=debtor)
    neighbour = AccountFactory(company=company)
    neighbours_email = DebtorEmailFactory(debtor=neighbour.debtor, address="zoe@example.net")
    sent = email_to(account, state=State.SENT)
    return {
        "sent": sent,
        "queued": email_to(account),
        "held": email_to(second_account, to="Zoe@example.net", state=State.HELD),
        "sending": email_to(account, state=State.SENDING),
        "other address": email_to(account, to="zoe@work.example"),
        "neighbour": email_to(neighbour),
        "sms": Message.objects.create(
            company=company, account=account, channel="sms", to="+15555550123", text="Hi"
        ),
        "points": {
            "primary": DebtorEmail.objects.get(debtor=debtor, address="zoe@example.net"),
            "same address": same_address,
            "other address": other_address,
            "neighbour": neighbours_email,
        },
    }


def test_the_button_opts_the_address_out_and_suppresses_what_waits(client, company, mailbox):
    before = timezone.now()
    response = client.post(link(mailbox["sent"]))
    assert response.status_code == 200
    assert "You are opted out" in response.content.decode()

    points = {name: DebtorEmail.objects.get(pk=p.pk) for name, p in mailbox["points"].items()}
    for name in ("primary", "same address"):
        assert points[name].email_opted_out
        assert points[name].email_opted_out_at >= before
        assert points[name].email_opt_out_source == "Opt-out link"
    assert not points["other address"].email_opted_out
    assert not points["neighbour"].email_opted_out

    states = {name: Message.objects.get(pk=m.pk) for name, m in mailbox.items() if name != "points"}
    for name in ("queued", "held"):
        assert (states[name].state, states[name].rule) == (State.SUPPRESSED, "opt_out")
        assert states[name].reason == "The debtor opted out of Email (Opt-out link)."
        assert states[name].events.get().state == State.SUPPRESSED
    for name, state in (
        ("sent", State.SENT),
        ("sending", State.SENDING),  # the provider may have it already
        ("other address", State.QUEUED),
        ("neighbour", State.QUEUED),
        ("sms", State.QUEUED),
    ):
        assert states[name].state == state, name

    events = AuditEvent.objects.filter(action="debtor_email.opted_out").order_by("object_id")
    assert [(e.object_id, e.actor_id, e.company_id) for e in events] == [
        (points["primary"].pk, None, company.pk),
        (points["same address"].pk, None, company.pk),
    ]
    assert events[0].changes["email_opted_out"] == [False, True]
    assert events[0].changes["email_opt_out_source"] == ["", "Opt-out link"]
    assert events[0].changes["message"] == [None, mailbox["sent"].pk]


def test_a_second_post_changes_nothing_and_says_the_same(client, mailbox):
    url = link(mailbox["sent"])
    first = client.post(url)
    before = snapshot()
    second = client.post(url)
    assert second.status_code == 200
    assert "You are opted out" in second.content.decode()
    assert snapshot() == before
    assert optout.record_email_opt_out(
        message=mailbox["sent"], source="Opt-out link"
    ) == optout.OptOut(addresses=0, suppressed=0)
    assert first.content == second.content


def test_a_mail_clients_one_click_post_needs_no_csrf_token(mailbox):
    client = Client(enforce_csrf_checks=True)  # no cookie, no token: as a mail client posts
    response = client.post(
        link(mailbox["sent"]),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert DebtorEmail.objects.get(pk=mailbox["points"]["primary"].pk).email_opted_out
    assert Message.objects.get(pk=mailbox["queued"].pk).state == State.SUPPRESSED


# --- delivery: the real link in the bodies and the headers --------------------------------


def test_a_sent_email_carries_its_own_link_and_the_one_click_headers(
    smtp, settings, client, account, template
):
    settings.PUBLIC_URL = "https://collections.example.com"
    services.queue_messages(
        account_ids=[account.pk],
        content=services.Content.of_version(template.versions.get()),
        send_after=timezone.now(),
    )
    assert dispatch.send_due_messages() == 1
    message = Message.objects.get()
    [(_to, received)] = smtp.messages
    # A long header is folded: "List-Unsubscribe:" CRLF " <https://...>".
    url = received["List-Unsubscribe"].strip().removeprefix("<").removesuffix(">")
    assert url.startswith(f"https://collections.example.com/optout/{message.pk}:")
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert f"Stop emails: {url}" in text and OPT_OUT_LINK_MARKER not in text
    assert f'<a href="{url}">Stop emails</a>' in html and OPT_OUT_LINK_MARKER not in html
    # The message keeps the marker: the link is made as it is sent.
    assert OPT_OUT_LINK_MARKER in message.text and OPT_OUT_LINK_MARKER in message.html
    # The link works.
    assert optout.message_for(urlsplit(url).path.split("/")[2]) == message
    assert "Opt out of emails" in client.get(urlsplit(url).path).content.decode()


def test_the_link_in_the_html_body_is_escaped(smtp, settings, account):
    settings.PUBLIC_URL = "https://example.com/a&b"  # behind a proxy, under a path of its own
    email_to(account)
    dispatch.send_due_messages()
    [(_to, received)] = smtp.messages
    assert 'href="https://example.com/a&amp;b/optout/' in received.get_body(("html",)).get_content()
    assert "https://example.com/a&b/optout/" in received.get_body(("plain",)).get_content()


# --- batches: confirmation and approval check the opt-out again ---------------------------


def lose_the_link(template):
    """The template and its version as saved before the opt-out rule."""
    fields = {
        "html_body": "<p>Dear {{debtorFirstName}}</p>",
        "text_body": "Dear {{debtorFirstName}}",
    }
    MessageTemplate.objects.filter(pk=template.pk).update(**fields)
    MessageTemplateVersion.objects.filter(template=template).update(**fields)


def test_a_batch_of_a_template_without_the_link_is_not_confirmed(company, template, account):
    lose_the_link(template)
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    with pytest.raises(bulk.InvalidParameters) as refused:
        start(supervisor, [account], template, timezone.now() + dt.timedelta(hours=1))
    assert refused.value.form.errors["template"] == [
        f"“Reminder” cannot be sent as it is: {NEEDS_LINK} Edit the template first."
    ]


def test_an_approver_is_told_the_batch_lacks_the_link(client, company, template, account):
    collector = UserFactory(company=company, role=COLLECTOR)
    operation = start(collector, [account], template, timezone.now() + dt.timedelta(hours=1))
    assert operation.status == BulkOperation.Status.PENDING_APPROVAL
    lose_the_link(template)
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    client.force_login(supervisor)
    response = client.post(
        reverse("bulkops:approvals"),
        {"operation": [operation.pk], "decision": "approve"},
        follow=True,
    )
    assert response.status_code == 200
    assert (
        f"#{operation.pk}: Its message cannot be sent: {NEEDS_LINK} Reject it and send it "
        "again once the message is corrected."
    ) in response.content.decode()
    operation.refresh_from_db()
    assert operation.status == BulkOperation.Status.PENDING_APPROVAL
    # Rejecting it still works.
    bulk.reject(user=supervisor, operation=operation, reason="No opt-out link")


def test_a_batch_that_lost_the_link_fails_its_rows_with_the_reason(company, template, account):
    supervisor = UserFactory(company=company, role=SUPERVISOR)
    operation = bulk.start_operation(
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
    lose_the_link(template)  # a batch confirmed before the rule, say
    bulk.run_operation(operation.pk)
    operation.refresh_from_db()
    assert operation.failed == 1
    assert operation.items.get().reason == f"The message cannot be sent: {NEEDS_LINK}"
    assert not Message.objects.exists()
