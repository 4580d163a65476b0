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
