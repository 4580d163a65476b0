"""An HTTP server on loopback that speaks the parts of Twilio's REST API the
product uses: creating Messages and Calls (form-encoded, HTTP basic auth
with the account SID and auth token), answering as Twilio does (201 with
the resource's JSON, or an error document). It records every request, so a
test can count what reached "Twilio"."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/(?P<kind>Messages|Calls)\.json$")


class TwilioServer:
    def __init__(self, account_sid: str, auth_token: str):
        self.account_sid, self.auth_token = account_sid, auth_token
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
                return self._answer(
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
        self.httpd.shutdown()
        self.httpd.server_close()
