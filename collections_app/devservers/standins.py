"""``make run``'s stand-ins for the providers: the loopback SMTP server as a
mail catcher that prints every email it receives, and the loopback Twilio
server as a working Twilio (it answers the API and reports each SMS "sent"
then "delivered", each call "completed", to the app's status webhook,
signed). ``manage.py devstack`` starts them and points its web server,
worker and beat at them through the environment, but only for what the user
has not configured: any of ``EMAIL_BACKEND``, ``EMAIL_HOST``, ``EMAIL_PORT``
set keeps their email settings; any of ``TWILIO_ACCOUNT_SID``,
``TWILIO_AUTH_TOKEN``, ``TWILIO_FROM_NUMBER``, ``TWILIO_API_BASE`` their
Twilio ones."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

EMAIL_VARIABLES = ("EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT")
TWILIO_VARIABLES = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "TWILIO_API_BASE",
)
# Development values only: the stand-in accepts these, nothing else does.
DEV_TWILIO_ACCOUNT_SID = "AC" + "de" * 16
DEV_TWILIO_AUTH_TOKEN = "devstack-auth-token"  # noqa: S105 (the loopback stand-in's)
DEV_TWILIO_FROM_NUMBER = "+15005550006"
STATUS_PATH = "/communications/twilio/status/"


def user_has_set(environ: Mapping[str, str], names) -> bool:
    return any(environ.get(name, "").strip() for name in names)


def email_environment(smtp_port: int) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_USE_TLS": "false",
    }


def twilio_environment(
    environ: Mapping[str, str], *, twilio_url: str, web_url: str
) -> dict[str, str]:
    """The stand-in's credentials and address, and its status callbacks to
    the web server (unless the user set their own callback URL)."""
    values = {
        "TWILIO_ACCOUNT_SID": DEV_TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEV_TWILIO_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": DEV_TWILIO_FROM_NUMBER,
        "TWILIO_API_BASE": twilio_url,
    }
    if not environ.get("TWILIO_STATUS_CALLBACK_URL", "").strip():
        values["TWILIO_STATUS_CALLBACK_URL"] = web_url.rstrip("/") + STATUS_PATH
    return values


def reachable_url(host: str, port: int) -> str:
    """The web server's URL as a client on this machine reaches it."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (listening everywhere; reached on loopback)
        host = "127.0.0.1"
    return f"http://{host}:{port}/"


class StandIns:
    """The stand-ins one ``devstack`` runs; ``start`` returns the environment
    its processes need, ``lines`` says what runs for the banner."""

    def __init__(self, environ: Mapping[str, str], *, web_url: str, write: Callable[[str], None]):
        self.environ, self.web_url, self.write = environ, web_url, write
        self.smtp = None
        self.twilio = None
        self.lines: list[str] = []

    def start(self, *, callback_delay: float = 1.0) -> dict[str, str]:
        env: dict[str, str] = {}
        if user_has_set(self.environ, EMAIL_VARIABLES):
            self.lines.append("  Email: your EMAIL_* settings")
        else:
            env |= self._start_smtp()
        if user_has_set(self.environ, TWILIO_VARIABLES):
            self.lines.append("  SMS and calls: your TWILIO_* settings")
        else:
            env |= self._start_twilio(callback_delay)
        return env

    def _start_smtp(self) -> dict[str, str]:
        try:
            from collections_app.devservers.smtp import ConsoleCatcher, start_server

            # aiosmtpd logs every SMTP command at INFO: the printed email is enough.
            logging.getLogger("mail.log").setLevel(logging.WARNING)
            self.smtp = start_server(ConsoleCatcher(self.write))
        except ImportError:  # aiosmtpd comes with the test extras, which make run installs
            self.lines.append("  Email: printed by Django's console backend (no aiosmtpd)")
            return {}
        self.lines.append(
            f"  Email: local SMTP catcher on 127.0.0.1:{self.smtp.port};"
            " every email sent is printed here"
        )
        return email_environment(self.smtp.port)

    def _start_twilio(self, callback_delay: float) -> dict[str, str]:
        from collections_app.devservers.twilio import TwilioServer

        self.twilio = TwilioServer(
            DEV_TWILIO_ACCOUNT_SID,
            DEV_TWILIO_AUTH_TOKEN,
            status_callbacks=True,
            callback_delay=callback_delay,
            on_create=self._created,
        ).__enter__()
        env = twilio_environment(self.environ, twilio_url=self.twilio.url, web_url=self.web_url)
        self.lines.append(
            f"  SMS and calls: local Twilio stand-in at {self.twilio.url};"
            " an SMS goes queued, sent, delivered"
        )
        return env

    def _created(self, request: dict) -> None:
        if request["kind"] == "Messages":
            self.write(f"SMS to {request.get('To')} (local Twilio stand-in): {request.get('Body')}")
        else:
            self.write(f"Call to {request.get('To')} (local Twilio stand-in)")

    def stop(self) -> None:
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None
        if self.twilio is not None:
            self.twilio.__exit__(None, None, None)
            self.twilio = None
