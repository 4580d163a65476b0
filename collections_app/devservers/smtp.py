"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, and
the ``smtp`` fixture (in tests/conftest.py) that points Django's SMTP backend
at it."""

from __future__ import annotations

import email
import socket
from email import policy


class Inbox:
    """An SMTP server's received messages: (recipients, parsed message)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(
            (envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def describe(sender: str, recipients: list[str], message) -> str:
    """One received email as ``make run`` prints it: From, To, Subject and
    the text (or a note when there is none), between rules."""
    body = message.get_body(("plain",))
    if body is not None:
        text = body.get_content().replace("\r\n", "\n").rstrip()
    else:
        text = "(no text part; HTML only)" if message.get_body(("html",)) else "(empty)"
    rule = "-" * 64
    return "\n".join(
        [
            rule,
            "Email caught by the local SMTP server (not sent anywhere):",
            f"From:    {message.get('From', sender)}",
            f"To:      {', '.join(recipients)}",
            f"Subject: {message.get('Subject', '')}",
            "",
            text,
            rule,
        ]
    )


class ConsoleCatcher:
    """An SMTP handler that writes each email it receives (``describe``) with
    ``write`` and keeps nothing: ``make run``'s stand-in for a mail server."""

    def __init__(self, write):
        self.write = write

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.write(describe(envelope.mail_from, envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"


def start_server(handler, port: int | None = None):
    """A running aiosmtpd server on loopback for ``handler``; ``.stop()`` it.
    Its port is ``.port``."""
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    return controller
