"""An HTTP server on loopback that speaks the parts of Twilio's REST API the
product uses: creating Messages and Calls (form-encoded, HTTP basic auth
with the account SID and auth token), answering as Twilio does (201 with
the resource's JSON, or an error document). It records every request, so a
test can count what reached "Twilio".

With ``status_callbacks=True`` (``make run``'s stand-in; off by default) it
also reports back as Twilio does: a created Message or Call that names a
``StatusCallback`` gets its statuses POSTed there from a background thread,
signed with the auth token (Twilio's RequestValidator): a Message "sent"
then "delivered", a Call "completed", each ``callback_delay`` seconds after
the one before. Each callback and the app's answer are kept in ``callbacks``."""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

from twilio.request_validator import RequestValidator

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/(?P<kind>Messages|Calls)\.json$")


class TwilioServer:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        status_callbacks: bool = False,
        callback_delay: float = 1.0,
        on_create: Callable[[dict], None] | None = None,
    ):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.status_callbacks, self.callback_delay = status_callbacks, callback_delay
        self.on_create = on_create  # called with each accepted request's record
        self.callbacks: list[dict] = []
        self._stopped = threading.Event()
        self.requests: list[dict] = []
        self.refuse_with: tuple[int, int, str] | None = None  # (HTTP status, code, message)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                fields = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                match = _PATH.match(self.path)
                expected = (
                    "Basic "
                    + base64.b64encode(
                        f"{server.account_sid}:{server.auth_token}".encode()
                    ).decode()
                )
                if match is None:
                    return self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                if (
                    self.headers.get("Authorization") != expected
                    or match["sid"] != server.account_sid
                ):
                    return self._answer(
                        401, {"code": 20003, "message": "Authenticate", "status": 401}
                    )
                if server.refuse_with:
                    status, code, text = server.refuse_with
                    return self._answer(status, {"code": code, "message": text, "status": status})
                prefix = "SM" if match["kind"] == "Messages" else "CA"
                sid = prefix + uuid.uuid4().hex
                with server._lock:
                    server.requests.append({"kind": match["kind"], "sid": sid, **fields})
                if server.on_create is not None:
                    server.on_create({"kind": match["kind"], "sid": sid, **fields})
                answered = self._answer(
                    201,
                    {
                        "sid": sid,
                        "account_sid": server.account_sid,
                        "to": fields.get("To"),
                        "from": fields.get("From"),
                        "body": fields.get("Body"),
                        "status": "queued",
                    },
                )
                server._report_statuses(match["kind"], sid, fields)
                return answered

            def _answer(self, status, document):
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- status callbacks ----------------------------------------------------------------

    def _report_statuses(self, kind: str, sid: str, fields: dict) -> None:
        """After answering a create: POST its statuses to its StatusCallback."""
        url = fields.get("StatusCallback")
        if not self.status_callbacks or not url:
            return
        common = {
            "AccountSid": self.account_sid,
            "From": fields.get("From", ""),
            "To": fields.get("To", ""),
            "ApiVersion": "2010-04-01",
        }
        if kind == "Messages":
            statuses = [
                {**common, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                 "SmsStatus": status}
                for status in ("sent", "delivered")
            ]  # fmt: skip
        else:
            statuses = [
                {**common, "CallSid": sid, "CallStatus": "completed", "CallDuration": "7",
                 "Direction": "outbound-api"}
            ]  # fmt: skip
        threading.Thread(target=self._post_statuses, args=(url, statuses), daemon=True).start()

    def _post_statuses(self, url: str, statuses: list[dict]) -> None:
        validator = RequestValidator(self.auth_token)
        for fields in statuses:
            if self._stopped.wait(self.callback_delay):
                return
            request = urllib.request.Request(  # noqa: S310 (the StatusCallback it was given)
                url,
                data=urlencode(fields).encode(),
                method="POST",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": validator.compute_signature(url, fields),
                    "User-Agent": "TwilioProxy/1.1",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    answer: int | str = response.status
            except urllib.error.HTTPError as exc:
                answer = exc.code
            except OSError as exc:  # the app is not there (yet, or any more)
                answer = repr(exc)
            with self._lock:
                self.callbacks.append({"url": url, **fields, "answer": answer})
