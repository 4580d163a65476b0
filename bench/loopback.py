"""The providers' loopback servers for ``make bench``, each in a process of
its own, as a provider is another machine: the product's sending and its
baseline share the machine's two cores with it, but not a Python
interpreter (a server thread in the bench's own process would take the
interpreter lock from whatever is measured).

``python -m bench.loopback smtp`` runs aiosmtpd with the tests' ``Inbox``
(``collections_app.devservers.smtp``); ``python -m bench.loopback twilio SID
TOKEN`` runs the tests' ``TwilioServer`` (``collections_app.devservers.twilio``).
Each prints ``ready <port or URL>``, then answers one command a line on
stdin: ``stats`` (a JSON line: what arrived, when, per calendar minute) and
``reset`` (forget it); end of input stops it. Every arrival is timed in the
server as it is recorded, with the wall clock (``time.time()``), whose
minutes are the rate limiter's calendar minutes."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter


class Arrivals:
    """When each message arrived, and what identifies it (an email's
    Message-ID, an SMS's recipient and text), to tell a second copy apart."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times: list[float] = []
        self.keys: list[str] = []

    def record(self, key: str) -> None:
        with self.lock:
            self.times.append(time.time())
            self.keys.append(key)

    def reset(self) -> None:
        with self.lock:
            self.times.clear()
            self.keys.clear()

    def stats(self) -> dict:
        with self.lock:
            times, keys = list(self.times), list(self.keys)
        per_minute = Counter(int(t // 60) * 60 for t in times)
        return {
            "received": len(times),
            "distinct": len(set(keys)),
            "first_at": min(times) if times else None,
            "last_at": max(times) if times else None,
            "per_minute": sorted(per_minute.items()),
        }


def _smtp(arrivals: Arrivals):
    from aiosmtpd.controller import Controller

    from collections_app.devservers.smtp import Inbox, free_port

    class TimedInbox(Inbox):
        """The tests' Inbox (it parses every message), keeping only each
        message's Message-ID and arrival: 50,000 parsed emails held in memory
        would be a gigabyte."""

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            answer = await super().handle_DATA(server, session, envelope)
            _recipients, message = self.messages.pop()
            arrivals.record(str(message["Message-ID"]))
            return answer

    port = free_port()
    controller = Controller(TimedInbox(), hostname="127.0.0.1", port=port)
    controller.start()
    return str(port), controller.stop


def _twilio(arrivals: Arrivals, account_sid: str, auth_token: str):
    from collections_app.devservers.twilio import TwilioServer

    class TimedRequests(list):
        """The server's record of requests (it appends each one it accepts,
        under its lock), timing each as it is recorded."""

        def append(self, request):
            arrivals.record(f"{request.get('To')}\n{request.get('Body')}")
            super().append(request)

    server = TwilioServer(account_sid, auth_token)
    server.requests = TimedRequests()
    server.__enter__()

    def stop():
        server.__exit__(None, None, None)

    def reset():
        server.requests.clear()

    return server.url, stop, reset


def main(argv: list[str]) -> None:
    arrivals = Arrivals()
    resets = [arrivals.reset]
    if argv[0] == "smtp":
        address, stop = _smtp(arrivals)
    elif argv[0] == "twilio":
        address, stop, reset = _twilio(arrivals, argv[1], argv[2])
        resets.append(reset)
    else:
        raise SystemExit(f"unknown server {argv[0]!r}: smtp or twilio")
    print(f"ready {address}", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(arrivals.stats()), flush=True)
            elif command == "reset":
                for reset in resets:
                    reset()
                print("ok", flush=True)
    finally:
        stop()


class LoopbackServer:
    """Starts ``python -m bench.loopback`` and talks to it (a context manager)."""

    def __init__(self, *args: str):
        import subprocess

        from bench.harness import ROOT

        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loopback", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = self.process.stdout.readline().split()
        if not first or first[0] != "ready":
            self.process.kill()
            raise RuntimeError(f"the loopback server {args[0]} did not start")
        self.address = first[1]

    def _ask(self, command: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline()

    def stats(self) -> dict:
        return json.loads(self._ask("stats"))

    def reset(self) -> None:
        self._ask("reset")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.process.stdin.close()
        self.process.wait(timeout=30)


if __name__ == "__main__":
    main(sys.argv[1:])
