"""The ESP's delivery events through django-anymail's own Postmark tracking
webhook (``/anymail/postmark/tracking/``), with Postmark's real payloads.

The email is really sent through anymail's Postmark backend, against a
loopback server that answers as Postmark's API does, so the message id the
events name is the one the dispatch recorded. The webhook is authenticated
by anymail's basic auth (``ANYMAIL_WEBHOOK_SECRET``): without it, or with a
wrong one, 400 and nothing changes; with no secret configured, every ESP
webhook is refused. Each event is stored once (a replay changes nothing) and
a message never moves back from a final state."""

from __future__ import annotations

import base64
import copy
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from bulkops.models import AuditEvent
from communications import dispatch
from communications.models import Message, MessageEvent, MessageState
from tests.factories import AccountFactory, DebtorEmailFactory

pytestmark = pytest.mark.django_db

State = MessageState
SECRET = "postmark-hook:Zk3p9-webhook-secret"
TOKEN = "postmark-server-token"


class PostmarkAPI:
    """Postmark's send endpoint (``POST /email``) on loopback: checks the
    server token and answers with a new MessageID, as Postmark does."""

    def __init__(self):
        self.requests: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/email" or self.headers.get("X-Postmark-Server-Token") != TOKEN:
                    answer, status = {"ErrorCode": 10, "Message": "Bad or missing API token"}, 401
                else:
                    api.requests.append(body)
                    answer, status = (
                        {
                            "To": body["To"],
                            "SubmittedAt": "2026-12-02T10:00:00.0000000Z",
                            "MessageID": str(uuid.uuid4()),
                            "ErrorCode": 0,
                            "Message": "OK",
                        },
                        200,
                    )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def postmark(settings):
    api = PostmarkAPI()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": TOKEN,
        "POSTMARK_API_URL": api.url,
        "WEBHOOK_SECRET": SECRET,
    }
    yield api
    api.close()


@pytest.fixture
def sent(postmark, company) -> Message:
    """An email really sent through anymail's Postmark backend."""
    account = AccountFactory(company=company)
    DebtorEmailFactory(debtor=account.debtor, address="zoe@example.net")
    message = Message.objects.create(
        company=company,
        account=account,
        channel="email",
        to="zoe@example.net",
        subject="Your account",
        text="Dear Zoë, please call us.",
    )
    assert dispatch.send_message(message.pk) == State.SENT
    message.refresh_from_db()
    return message


# Postmark's webhook payloads (its documentation's examples), for one message.
def delivery(message_id: str) -> dict:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message_id,
        "Recipient": "zoe@example.net",
        "Tag": "",
        "DeliveredAt": "2026-12-02T10:00:05.9070259Z",
        "Details": "smtp;250 2.0.0 OK",
        "Metadata": {},
    }


def bounce(message_id: str, *, kind="HardBounce", bounce_id=4323372036854775807) -> dict:
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": bounce_id,
        "Type": kind,
        "TypeCode": 1 if kind == "HardBounce" else 2,
        "Name": "Hard bounce" if kind == "HardBounce" else "Message delayed",
        "Tag": "",
        "MessageID": message_id,
        "Metadata": {},
        "ServerID": 23,
        "Description": (
            "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
            if kind == "HardBounce"
            else "The server could not temporarily deliver your message."
        ),
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "zoe@example.net",
        "From": "collections@example.com",
        "BouncedAt": "2026-12-02T10:00:06.9070259Z",
        "DumpAvailable": False,
        "Inactive": kind == "HardBounce",
        "CanActivate": True,
        "Subject": "Your account",
    }


def unsubscribe(message_id: str) -> dict:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": message_id,
        "ServerID": 23,
        "MessageStream": "outbound",
        "ChangedAt": "2026-12-02T11:00:00.416071Z",
        "Recipient": "zoe@example.net",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "",
        "Metadata": {},
    }


def post(client, payload, *, secret: str | None = SECRET):
    headers = {}
    if secret is not None:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(secret.encode()).decode()
    return client.post(
        reverse("anymail:postmark_tracking_webhook"),
        data=json.dumps(payload),
        content_type="application/json",
        **headers,
    )


def esp_events(message):
    return list(
        MessageEvent.objects.filter(message=message, source="esp").values_list(
            "state", "detail", "applied"
        )
    )


def test_the_dispatch_records_the_esps_message_id(sent, postmark):
    [request] = postmark.requests
    assert request["To"] == "zoe@example.net"
    assert {"Name": "Message-ID", "Value": sent.message_id_header} in request["Headers"]
    assert str(uuid.UUID(sent.provider_id)) == sent.provider_id  # Postmark's MessageID


def test_an_authenticated_delivery_moves_the_message_once(client, sent):
    response = post(client, delivery(sent.provider_id))
    assert response.status_code == 200
    sent.refresh_from_db()
    assert sent.state == State.DELIVERED
    assert esp_events(sent) == [(State.DELIVERED, "Postmark: delivered (smtp;250 2.0.0 OK)", True)]

    # Postmark delivers the same event again: stored once, nothing changes.
    assert post(client, delivery(sent.provider_id)).status_code == 200
    assert esp_events(sent) == [(State.DELIVERED, "Postmark: delivered (smtp;250 2.0.0 OK)", True)]


@pytest.mark.parametrize("how", ["no auth", "wrong secret", "wrong user"])
def test_an_unauthenticated_event_is_refused_and_changes_nothing(client, sent, how):
    secret = {"no auth": None, "wrong secret": "postmark-hook:guess", "wrong user": "x:" + SECRET}
    response = post(client, bounce(sent.provider_id), secret=secret[how])
    assert response.status_code == 400
    sent.refresh_from_db()
    assert sent.state == State.SENT
    assert esp_events(sent) == []


def test_without_a_configured_secret_every_esp_webhook_is_refused(client, settings, sent):
    settings.ANYMAIL = {k: v for k, v in settings.ANYMAIL.items() if k != "WEBHOOK_SECRET"}
    for secret in (None, SECRET):
        response = post(client, bounce(sent.provider_id), secret=secret)
        assert response.status_code == 403
        assert b"ANYMAIL_WEBHOOK_SECRET is not set" in response.content
    sent.refresh_from_db()
    assert sent.state == State.SENT and esp_events(sent) == []


def test_only_post_and_only_tracking_webhooks(client, sent):
    url = reverse("anymail:postmark_tracking_webhook")
    assert url == "/anymail/postmark/tracking/"
    assert client.get(url).status_code == 405
    assert client.post("/anymail/postmark/inbound/").status_code == 404  # no email comes in


def test_a_bounce_then_late_events_never_move_it_back(client, sent):
    assert post(client, bounce(sent.provider_id)).status_code == 200
    sent.refresh_from_db()
    assert sent.state == State.BOUNCED
    assert sent.error.startswith("Postmark: bounced (The server was unable to deliver")
    # A delivery reported late, and a replay of the bounce.
    assert post(client, delivery(sent.provider_id)).status_code == 200
    assert post(client, bounce(sent.provider_id)).status_code == 200
    sent.refresh_from_db()
    assert sent.state == State.BOUNCED
    assert [(state, applied) for state, _, applied in esp_events(sent)] == [
        (State.BOUNCED, True),
        (State.DELIVERED, False),
    ]


def test_out_of_order_deferred_and_bounced_after_delivered_are_kept_not_applied(client, sent):
    assert post(client, delivery(sent.provider_id)).status_code == 200
    deferred = bounce(sent.provider_id, kind="Transient", bounce_id=4323372036854775808)
    assert post(client, deferred).status_code == 200
    assert post(client, bounce(sent.provider_id)).status_code == 200
    sent.refresh_from_db()
    assert sent.state == State.DELIVERED and sent.error == ""
    events = esp_events(sent)
    assert [(state, applied) for state, _, applied in events] == [
        (State.DELIVERED, True),
        (State.DELIVERED, False),  # deferred decides nothing: the state it found
        (State.BOUNCED, False),
    ]
    assert events[1][1].startswith("Postmark: deferred (The server could not temporarily")


def test_a_deferral_before_delivery_is_stored_and_the_delivery_still_applies(client, sent):
    deferred = bounce(sent.provider_id, kind="Transient", bounce_id=17)
    assert post(client, deferred).status_code == 200
    sent.refresh_from_db()
    assert sent.state == State.SENT
    assert post(client, delivery(sent.provider_id)).status_code == 200
    sent.refresh_from_db()
    assert sent.state == State.DELIVERED


def test_an_unsubscribe_is_recorded_and_opts_the_address_out_once(client, sent):
    waiting = Message.objects.create(
        company=sent.company, account=sent.account, channel="email", to="zoe@example.net",
        subject="Again", text="Please call us.",
    )  # fmt: skip
    assert post(client, unsubscribe(sent.provider_id)).status_code == 200
    assert post(client, unsubscribe(sent.provider_id)).status_code == 200  # replayed
    sent.refresh_from_db()
    assert sent.state == State.SENT
    assert esp_events(sent) == [(State.SENT, "Postmark: unsubscribed", False)]
    [event] = MessageEvent.objects.filter(message=sent, source="esp")
    assert event.event_id.startswith("sha256:")  # Postmark gives no ID for these
    # The debtor told their mailbox: the address is opted out, with the source.
    address = sent.account.debtor.emails.get()
    assert address.email_opted_out
    assert address.email_opt_out_source == "Postmark: unsubscribed"
    waiting.refresh_from_db()
    assert (waiting.state, waiting.rule) == (State.SUPPRESSED, "opt_out")
    assert AuditEvent.objects.filter(action="debtor_email.opted_out").count() == 1


def test_a_changed_payload_is_another_event(client, sent):
    """Without an ESP event id the payload is the identity: a second,
    different subscription change is stored too."""
    first = unsubscribe(sent.provider_id)
    second = copy.deepcopy(first) | {"ChangedAt": "2026-12-03T09:00:00Z"}
    assert post(client, first).status_code == 200
    assert post(client, second).status_code == 200
    assert len(esp_events(sent)) == 2


def test_an_event_is_matched_by_our_message_id_header(client, sent):
    """An ESP that reports the Message-ID header rather than its own id."""
    assert post(client, delivery(sent.message_id_header)).status_code == 200
    sent.refresh_from_db()
    assert sent.state == State.DELIVERED


def test_a_header_of_another_domain_or_an_unknown_id_matches_nothing(client, sent):
    for message_id in (f"<message-{sent.pk}@elsewhere.example>", str(uuid.uuid4())):
        assert post(client, bounce(message_id)).status_code == 200
    sent.refresh_from_db()
    assert sent.state == State.SENT
    assert not MessageEvent.objects.filter(source="esp").exists()


def test_an_event_for_a_message_still_being_sent_waits_for_the_sender(client, sent):
    Message.objects.filter(pk=sent.pk).update(state=State.SENDING, provider_id="")
    assert post(client, bounce(sent.message_id_header)).status_code == 200
    sent.refresh_from_db()
    assert sent.state == State.SENDING
    assert esp_events(sent)[0][2] is False
