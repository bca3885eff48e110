"""Real HTTP servers on 127.0.0.1 that imitate the SMS providers' wire formats, from their
published API references: they check a request the way the provider does and answer in its
words. Each keeps what it received; ``behaviour`` picks the answer."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# The credentials the gateway imitations hold and the service is configured with.
APP_KEY, APP_SECRET = "c8RWg3ggEcyd4D3p94bf3Y7x1Ile", "q4Ii87BhST9vcs8wvrzN80SfD7Al"
ACCOUNT, TOKEN = "AC" + "0" * 31 + "1", "twilio-auth-token-0123456789"


class Imitation:
    """The server; subclasses answer ``(status, body)`` for a request (a body of None sends
    none), or None to hang up."""

    def __init__(self):
        self.behaviour = "ok"
        self.delay = 0.0
        self.requests: list[dict] = []
        imitation = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urlsplit(self.path)
                request = {
                    "path": parts.path,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "form": {k: v[0] for k, v in parse_qs(raw.decode()).items()},
                    "body": raw,
                }
                imitation.requests.append(request)
                time.sleep(imitation.delay)
                answer = imitation.answer(request)
                if answer is None:
                    self.close_connection = True  # hang up without a word
                    return
                status, body = answer
                payload = b"" if body is None else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    if payload:
                        self.send_header("Content-Type", "application/json;charset=UTF-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # serve_forever looks for a shutdown request between polls: a short poll lets close()
        # return at once instead of after half a second, the default, in every test's teardown.
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    def answer(self, request: dict) -> tuple[int, dict | None] | None:
        raise NotImplementedError

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Gateway(Imitation):
    """A webhook receiver (SMS or provisioning) that answers ``status`` with no body."""

    def __init__(self):
        super().__init__()
        self.status = 200
        self.url += "/sms"

    def answer(self, request):
        return self.status, None


_WSSE = re.compile(
    r'UsernameToken Username="([^"]*)",PasswordDigest="([^"]*)",Nonce="([^"]*)",Created="([^"]*)"'
)


class HuaweiImitation(Imitation):
    """MSGSMS ``/sms/batchSendSms/v1`` with X-WSSE authentication."""

    def __init__(self, app_key: str, app_secret: str):
        super().__init__()
        self.app_key, self.app_secret = app_key, app_secret

    def authenticate(self, headers: dict) -> str | None:
        """The error code Huawei answers for the request's credentials, or None if they hold."""
        authorization = headers.get("authorization")
        if authorization is None:
            return "E000001"  # Authorization is not contained in the HTTP header
        if 'realm="SDP"' not in authorization:
            return "E000004"  # the value of realm in Authorization must be SDP
        if 'profile="UsernameToken"' not in authorization:
            return "E000005"  # the value of profile in Authorization must be UsernameToken
        match = _WSSE.fullmatch(headers.get("x-wsse", ""))
        if not match:
            return "E000006"
        username, digest, nonce, created = match.groups()
        # As Huawei's samples compute it: Base64 of the hex SHA-256 of Nonce + Created + secret.
        hex_digest = hashlib.sha256((nonce + created + self.app_secret).encode()).hexdigest()
        expected = base64.b64encode(hex_digest.encode()).decode()
        made = time.mktime(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        if username != self.app_key or digest != expected or abs(time.time() - made) > 86400:
            return "E000020"
        return None

    def answer(self, request):
        if self.behaviour == "drop":
            return None
        if self.behaviour == "down":
            return 503, {"code": "E000000", "description": "Service Unavailable"}
        if request["path"] != "/sms/batchSendSms/v1":
            return 404, {"code": "E000000", "description": "Not Found"}
        if (
            not request["headers"]
            .get("content-type", "")
            .startswith("application/x-www-form-urlencoded")
        ):
            return 400, {"code": "E000000", "description": "The system is abnormal."}
        failed = self.authenticate(request["headers"])
        if failed:
            return 401, {"code": failed, "description": "Authentication failed."}
        form = request["form"]
        number = {
            "originTo": form.get("to"),
            "createTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "from": form.get("from"),
            "smsMsgId": f"{uuid.uuid4()}_8539659",
            "status": "000000",
        }
        if self.behaviour == "template-mismatch":
            return 200, {"code": "E000000", "description": "The system is abnormal."}
        if self.behaviour == "no-route":
            number["status"] = "E200027"  # failed to match the gateway
            return 200, {
                "code": "E000510",
                "description": "The SMS fails to be sent.",
                "result": [number],
            }
        return 200, {"code": "000000", "description": "Success", "result": [number]}


class TwilioImitation(Imitation):
    """``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP basic auth."""

    def __init__(self, account_sid: str, auth_token: str):
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token

    def _error(self, status: int, code: int, message: str) -> tuple[int, dict]:
        return status, {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

    def answer(self, request):
        if self.behaviour == "drop":
            return None
        if self.behaviour == "down":
            return self._error(503, 20500, "Service Unavailable")
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        if request["headers"].get("authorization") != expected:
            return self._error(401, 20003, "Authenticate")
        if request["path"] != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return self._error(404, 20404, "The requested resource was not found")
        form = request["form"]
        if self.behaviour == "invalid-number":
            return self._error(400, 21211, f"The 'To' number {form['To']} is not valid.")
        if self.behaviour == "busy":
            return self._error(429, 20429, "Too Many Requests")
        return 201, {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": self.account_sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body"),
            "status": "queued",
            "num_segments": "1",
            "api_version": "2010-04-01",
            "error_code": None,
            "error_message": None,
        }
