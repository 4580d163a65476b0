"""``make run``'s stand-ins (``collections_app.devservers.standins``): with
nothing configured, a local SMTP catcher that prints each email and a local
Twilio stand-in, and the environment that points the stack's processes at
them; whatever the user configured is left alone.
tests/e2e/test_make_run_smoke.py checks them in the running stack."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives, get_connection
from twilio.rest import Client

from collections_app.devservers import standins
from collections_app.devservers.standins import StandIns, reachable_url

WEB = "http://127.0.0.1:8000/"


def test_with_nothing_configured_both_stand_ins_run_and_the_stack_is_pointed_at_them():
    written: list[str] = []
    stand_ins = StandIns({}, web_url=WEB, write=written.append)
    env = stand_ins.start(callback_delay=0.01)
    try:
        smtp_port, twilio_url = stand_ins.smtp.port, stand_ins.twilio.url
        assert env == {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_USE_TLS": "false",
            "TWILIO_ACCOUNT_SID": standins.DEV_TWILIO_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": standins.DEV_TWILIO_AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": standins.DEV_TWILIO_FROM_NUMBER,
            "TWILIO_API_BASE": twilio_url,
            "TWILIO_STATUS_CALLBACK_URL": "http://127.0.0.1:8000/communications/twilio/status/",
        }
        assert any(f"127.0.0.1:{smtp_port}" in line for line in stand_ins.lines)
        assert any(twilio_url in line for line in stand_ins.lines)

        # An email through Django's SMTP backend, as the worker sends it: printed.
        connection = get_connection(
            "django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=smtp_port
        )
        email = EmailMultiAlternatives(
            "Your account", "Dear Zoë,\nplease call us.", "collections@example.com",
            ["zoe@example.net"], connection=connection,
        )  # fmt: skip
        email.attach_alternative("<p>Dear Zoë, please call us.</p>", "text/html")
        assert email.send() == 1
        [printed] = written
        assert "From:    collections@example.com" in printed
        assert "To:      zoe@example.net" in printed
        assert "Subject: Your account" in printed
        assert "Dear Zoë,\nplease call us." in printed and "<p>" not in printed

        # An SMS through Twilio's own client with the development credentials.
        client = Client(env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"])
        client.api.base_url = twilio_url
        sent = client.messages.create(to="+15555550123", from_=env["TWILIO_FROM_NUMBER"], body="Hi")
        assert sent.sid.startswith("SM") and sent.status == "queued"
        assert written[-1] == "SMS to +15555550123 (local Twilio stand-in): Hi"
        assert stand_ins.twilio.status_callbacks
    finally:
        stand_ins.stop()
    assert stand_ins.smtp is None and stand_ins.twilio is None


def test_the_users_own_settings_are_kept():
    for environ in (
        {"EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend"},
        {"EMAIL_HOST": "smtp.example.com"},
    ):
        stand_ins = StandIns(environ | {"TWILIO_ACCOUNT_SID": "AC" + "9" * 32}, web_url=WEB,
                             write=print)  # fmt: skip
        assert stand_ins.start() == {}
        assert (stand_ins.smtp, stand_ins.twilio) == (None, None)
        assert stand_ins.lines == [
            "  Email: your EMAIL_* settings",
            "  SMS and calls: your TWILIO_* settings",
        ]
    blank = StandIns({"EMAIL_BACKEND": " ", "TWILIO_API_BASE": ""}, web_url=WEB, write=print)
    try:
        assert "EMAIL_BACKEND" in blank.start() and blank.smtp and blank.twilio  # blank is unset
    finally:
        blank.stop()


def test_a_status_callback_url_of_the_users_own_is_kept():
    env = standins.twilio_environment(
        {"TWILIO_STATUS_CALLBACK_URL": "https://tunnel.example/communications/twilio/status/"},
        twilio_url="http://127.0.0.1:9",
        web_url=WEB,
    )
    assert "TWILIO_STATUS_CALLBACK_URL" not in env
    assert env["TWILIO_API_BASE"] == "http://127.0.0.1:9"


def test_the_callbacks_reach_the_web_server_on_loopback():
    assert reachable_url("0.0.0.0", 8000) == "http://127.0.0.1:8000/"  # noqa: S104
    assert reachable_url("127.0.0.1", 8123) == "http://127.0.0.1:8123/"
    assert reachable_url("localhost", 8000) == "http://localhost:8000/"
