"""The tuned app against stock connexion: one corpus of requests, the same answers.

:mod:`applytry.framework` re-implements parts of connexion for speed. This test holds it to
connexion: it sends one corpus of requests, hand-written and generated, to ``applytry serve``
(the tuned app) and to the same app on stock connexion (``oracle.py``, the oracle), each in a
process of its own with a fresh database and SMS outbox, in the same order so that their state
evolves alike, and asserts the same status, ``Content-Type`` and body.

The exceptions are the deliberate differences (:data:`RULES`): there the test asserts the
tuned app's answer by the rule, and :func:`deliberate` says which rule decides a request, so
generated requests are classified too. Any other difference fails
``test_same_answers_outside_the_deliberate_differences``: a bug in framework.py.

Requests go out as raw bytes, one connection each, so odd headers and framing reach the
servers as written. Every difference found is written to ``differential.txt`` in the
reports folder, the deliberate ones included, with both answers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from oracle import OracleProcess

from applytry import messages
from applytry.digests import Digests
from applytry.phones import parse_phone
from applytry.receipts import twilio_signature
from applytry.sms.http import receipt_url
from applytry.testing import ServiceProcess
from conftest import BASE_PATH, GENERATE

pytestmark = pytest.mark.timeout(600)

# connexion's minor version that framework.py re-implements parts of.
FRAMEWORK_WRITTEN_FOR = (3, 3)

APPLY = BASE_PATH + "/applyTry/applyTenant"
HUAWEI = BASE_PATH + "/sms/receipts/huawei"
TWILIO = BASE_PATH + "/sms/receipts/twilio"
HEALTHZ = BASE_PATH + "/healthz"
READYZ = BASE_PATH + "/readyz"
METRICS = BASE_PATH + "/metrics"
UI = BASE_PATH + "/ui"
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
PROBLEM_TYPE = "application/problem+json"
# What the operations with a body take (the spec's requestBody media types).
CONSUMES = {GENERATE: JSON_TYPE, APPLY: JSON_TYPE, HUAWEI: FORM_TYPE, TWILIO: FORM_TYPE}
# Every path the app routes; Swagger UI's assets are everything under UI + "/".
ROUTES = {*CONSUMES, HEALTHZ, READYZ, METRICS, UI, "/openapi.json", "/openapi.yaml", "/", "/docs"}
MAX_BODY_BYTES = 16 * 1024  # applytry.bodylimit: a 413 before anything else looks
MAX_NUMBER_LENGTH = 100  # rule 2

# Both servers run on these; the limits are loose so that no per-client or per-range limit
# interferes (the corpus comes from one address and its phones from one range).
SECRET = "differential-secret-0123456789abcdef"
TWILIO_ACCOUNT = "AC" + "0" * 31 + "7"
TWILIO_TOKEN = "differential-twilio-token-0123"
SETTINGS = {
    "secret": SECRET,
    "ip_per_minute": 1_000_000,
    "prefix_hourly_limit": 100_000_000,
    "prefix_daily_limit": 100_000_000,
    "conversion_min_percent": 0,
    "sms_daily_limit": 100_000_000,
    "email_daily_limit": 100_000_000,
    "public_url": "https://trial.example.com",
    "twilio_account_sid": TWILIO_ACCOUNT,
    "twilio_auth_token": TWILIO_TOKEN,
    "log_level": "WARNING",
}
ACCESS_CODES = 400  # trial access codes each side holds, more than the corpus can take

RULE_MEDIA_TYPES = (
    "rule 1: media types match case-insensitively by RFC 9110 syntax, UTF-8 only; "
    "a missing, malformed or other Content-Type is 415"
)
RULE_STRICT_JSON = (
    "rule 2: JSON must be RFC 8259 (no NaN, Infinity, numbers that overflow to it, number "
    "literals over 100 characters, duplicate keys or lone surrogates), else 400"
)
RULE_NO_REDIRECTS = "rule 3: a trailing slash or an unknown path is a 404 problem, no redirect"
RULES = (RULE_MEDIA_TYPES, RULE_STRICT_JSON, RULE_NO_REDIRECTS)

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


# -- Requests and answers on the wire -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, sent as written
    headers: tuple[tuple[str, str | bytes], ...] = ()
    body: bytes = b""
    chunked: bool = False  # Transfer-Encoding: chunked instead of Content-Length
    content_length: str | None = None  # sent instead of the body's own length
    # In the body, @CODE@, @WIDE@ (full-width) and @WRONG@ become, on each side, the code
    # that side's SMS outbox holds for this E.164 phone (or a wrong one).
    code_of: str | None = None

    @property
    def path(self) -> str:
        """The path as the app sees it (uvicorn percent-decodes it)."""
        return unquote(urlsplit(self.target).path)

    def header(self, name: str) -> list[str]:
        """The values of a header as the server reads them: latin-1, stripped."""
        return [
            (value if isinstance(value, bytes) else value.encode()).decode("latin-1").strip(" \t")
            for key, value in self.headers
            if key.lower() == name.lower()
        ]

    def with_content_type(self, content_type: str) -> Request:
        headers = [(k, v) for k, v in self.headers if k.lower() != "content-type"]
        return dataclasses.replace(self, headers=(*headers, ("Content-Type", content_type)))

    def body_for(self, outbox: Path) -> bytes:
        if self.code_of is None:
            return self.body
        code = last_code(outbox, self.code_of)
        wrong = f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"
        return (
            self.body.replace(b"@CODE@", code.encode())
            .replace(b"@WIDE@", code.translate(FULL_WIDTH).encode())
            .replace(b"@WRONG@", wrong.encode())
        )

    def wire(self, body: bytes) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
        lines.append(b"Connection: close")
        for name, value in self.headers:
            lines.append(
                name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
            )
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            middle = len(body) // 2
            body = b"".join(
                b"%x\r\n%s\r\n" % (len(part), part)
                for part in (body[:middle], body[middle:])
                if part
            )
            body += b"0\r\n\r\n"
        elif self.content_length is not None:
            lines.append(f"Content-Length: {self.content_length}".encode())
        elif body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}".encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def __str__(self) -> str:
        headers = "".join(f"\n      {name}: {value!r}" for name, value in self.headers)
        body = self.body if len(self.body) <= 160 else self.body[:160] + b"..."
        extra = f" ({len(self.body)} bytes)" if len(self.body) > 160 else ""
        framing = " chunked" if self.chunked else ""
        if self.content_length is not None:
            framing += f" Content-Length: {self.content_length}"
        return f"{self.method} {self.target}{framing}{headers}\n      body{extra}: {body!r}"


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def __str__(self) -> str:
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"..."
        location = f" Location: {self.header('location')}" if self.header("location") else ""
        shown = body.decode(errors="replace")
        return f"{self.status} [{self.header('content-type')}]{location} {shown}"


def last_code(outbox: Path, e164: str) -> str:
    texts = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    text = next((sms["text"] for sms in reversed(texts) if sms["to"] == e164), "000000")
    return re.search(r"\d{6,10}", text).group(0)


def exchange(port: int, raw: bytes, timeout_s: float = 15) -> Answer:
    """One request on its own connection; the answer is read until the server closes."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        # The server may answer and close before it has read everything.
        with contextlib.suppress(OSError):
            sock.sendall(raw)
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return parse_answer(b"".join(chunks))


def parse_answer(data: bytes) -> Answer:
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head:
        return Answer(0, (), b"")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = tuple(
        (name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines)
    )
    answer = Answer(int(status_line.split()[1]), headers, rest)
    if (answer.header("transfer-encoding") or "").lower() == "chunked":
        body = b""
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            length = int(size.split(b";")[0], 16)
            if not length:
                break
            body, rest = body + rest[:length], rest[length + 2 :]
        return dataclasses.replace(answer, body=body)
    length = answer.header("content-length")
    return dataclasses.replace(answer, body=rest[: int(length)] if length else rest)


# -- The deliberate differences -----------------------------------------------------------

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
# RFC 9110 sections 8.3.1 and 5.6.6: parameters = *( OWS ";" OWS [ parameter ] )
_PARAMETER = rf"[ \t]*;[ \t]*(?:({_TOKEN})=({_TOKEN}|{_QUOTED}))?"
_MEDIA_TYPE = re.compile(rf"({_TOKEN})/({_TOKEN})((?:{_PARAMETER})*)")


def media_type(value: str) -> tuple[str, dict[str, str]] | None:
    """``type/subtype`` in lower case and the parameters (names in lower case, values
    unquoted) of a Content-Type by RFC 9110; None when it is not a media type."""
    found = _MEDIA_TYPE.fullmatch(value.strip(" \t"))
    if found is None:
        return None
    parameters = {}
    for name, text in re.findall(_PARAMETER, found[3]):
        if name:
            quoted = text.startswith('"')
            parameters[name.lower()] = re.sub(r"\\(.)", r"\1", text[1:-1]) if quoted else text
    return f"{found[1]}/{found[2]}".lower(), parameters


def strict_json_violation(body: bytes) -> str | None:
    """What makes a body that Python's json module parses not RFC 8259 JSON (rule 2)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    found: list[str] = []

    def constant(name: str) -> float:
        found.append(name)
        return 0.0

    def number(literal: str) -> int:
        if len(literal) > MAX_NUMBER_LENGTH:
            found.append(f"a {len(literal)}-character number")
        elif not math.isfinite(float(literal)):
            found.append(f"{literal}, which overflows to infinity")
        return 0

    def pairs(items: list) -> dict:
        names = [name for name, _ in items]
        if len(set(names)) != len(names):
            found.append("a duplicate key")
        return dict(items)

    try:
        json.loads(
            text,
            parse_constant=constant,
            parse_int=number,
            parse_float=number,
            object_pairs_hook=pairs,
        )
    except (ValueError, RecursionError):
        return None  # not JSON at all: both answer Python's parse error
    if not found and not _unicode_throughout(json.loads(text)):
        found.append("a lone surrogate escape")
    return found[0] if found else None


def _unicode_throughout(value) -> bool:
    if isinstance(value, str):
        return not any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return all(map(_unicode_throughout, [*value.keys(), *value.values()]))
    if isinstance(value, list):
        return all(map(_unicode_throughout, value))
    return True


def _parameters_valid(request: Request) -> bool:
    """Whether the spec's parameters pass, which connexion checks before the media type."""
    if request.path in (GENERATE, APPLY):
        languages = request.header("accept-language")
        return len(languages) <= 1 and all(len(value) <= 256 for value in languages)
    if request.path == HUAWEI:
        query = parse_qs(urlsplit(request.target).query, keep_blank_values=True)
        return all(len(query.get(name, [])) == 1 for name in ("message", "token")) and all(
            1 <= len(query[name][0]) <= 64 for name in ("message", "token")
        )
    signatures = request.header("x-twilio-signature")
    return len(signatures) == 1 and 1 <= len(signatures[0]) <= 128


@dataclasses.dataclass(frozen=True)
class Verdict:
    """How a request's tuned answer is judged."""

    reason: str | None = None  # the deliberate difference that decides it, if any
    status: int | None = None  # the problem's status that the rule prescribes
    # Otherwise the tuned answer is the oracle's answer to this request (rule 1: the same
    # media type spelled as the spec does), or to the request itself when None.
    oracle: Request | None = None


def judge(request: Request) -> Verdict:
    path = request.path
    if path not in ROUTES and not path.startswith(UI + "/"):
        return Verdict(RULE_NO_REDIRECTS, 404)
    canonical = CONSUMES.get(path)
    if canonical is None or request.method != "POST":
        return Verdict()
    length = request.content_length or len(request.body)
    if int(length) > MAX_BODY_BYTES or not _parameters_valid(request):
        return Verdict()  # 413 or 400 comes first, alike on both
    spellings = request.header("content-type")
    parsed = media_type(", ".join(spellings)) if spellings else None
    if (
        parsed is None
        or parsed[0] != canonical
        or parsed[1].get("charset", "utf-8").lower() != "utf-8"
    ):
        return Verdict(RULE_MEDIA_TYPES, 415)
    if canonical == JSON_TYPE and request.body and strict_json_violation(request.body):
        return Verdict(RULE_STRICT_JSON, 400)
    if spellings != [canonical]:
        return Verdict(RULE_MEDIA_TYPES, oracle=request.with_content_type(canonical))
    return Verdict()


def deliberate(request: Request) -> str | None:
    """The deliberate difference that decides the tuned app's answer to ``request``."""
    return judge(request).reason


# -- The corpus ---------------------------------------------------------------------------


class Phones:
    """Fresh mainland mobile numbers, one per use, so that both sides' state stays alike."""

    def __init__(self, first: int = 13_800_100_000):
        self.next_number = first

    def __call__(self) -> str:
        self.next_number += 1
        return str(self.next_number)


SPELLINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda n: n,
    "international": lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}",
    "dashes": lambda n: f"{n[:3]}-{n[3:7]}-{n[7:]}",
    "brackets": lambda n: f"(+86) {n}",
    "dots": lambda n: f"{n[:3]}.{n[3:7]}.{n[7:]}",
    "full-width": lambda n: n.translate(FULL_WIDTH),
}

# Every spelling of a Content-Type the corpus tries, hand-written and generated.
MEDIA_SPELLINGS = (
    "application/json",
    "application/JSON",
    "Application/Json",
    "APPLICATION/JSON",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "application/json ; charset=utf-8",
    'application/json; charset="utf-8"',
    'application/json; charset="UTF-8"',
    "application/json; CHARSET=Utf-8",
    "application/json;",
    "application/json;\tcharset=utf-8",
    'application/json; charset="utf\\-8"',
    "application/json; foo=bar",
    "application/json; charset=utf-16",
    "application/json; charset=latin-1",
    "application/json; charset=utf8",
    "application/json; charset=",
    "application/problem+json",
    "application/vnd.api+json",
    "application/json-patch+json",
    "text/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "Application/X-WWW-Form-Urlencoded",
    "multipart/form-data; boundary=x",
    "application/",
    "json",
    ";",
    "/",
    "application/json application/json",
    "*/*",
)
FORM_SPELLINGS = (
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "Application/X-WWW-Form-Urlencoded",
    'APPLICATION/X-WWW-FORM-URLENCODED;charset="UTF-8"',
    "application/x-www-form-urlencoded ; charset=UTF-8",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/json",
    "multipart/form-data; boundary=x",
    "text/plain",
    "application/x-www-form",
    ";",
)
LANGUAGES = (
    "zh-CN,zh;q=0.9,en;q=0.8",
    "zh",
    "zh-TW",
    "en-US,en;q=0.9",
    "fr",
    "*",
    "zh;q=0, en",
    "zh;q=abc",
    "en;q=0.5, zh;q=0.6",
    "",
    "z" * 256,
    "z" * 257,
    "zh," * 1700,
)


def json_post(path: str, value, content_type: str | None = JSON_TYPE, headers=(), **kw) -> Request:
    body = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
    if content_type is not None:
        headers = (("Content-Type", content_type), *headers)
    return Request("POST", path, tuple(headers), body, **kw)


def huawei_receipt(form: dict, message: str = "m-1", token: str | None = None, **kw) -> Request:
    token = Digests(SECRET.encode()).receipt(message) if token is None else token
    query = urlencode({"message": message, "token": token})
    return form_post(f"{HUAWEI}?{query}", form, **kw)


def twilio_receipt(form: dict, signature: str | None = None, **kw) -> Request:
    if signature is None:
        signature = twilio_signature(
            TWILIO_TOKEN, receipt_url(SETTINGS["public_url"], "twilio"), form
        )
    headers = (("X-Twilio-Signature", signature),) if signature else ()
    return form_post(TWILIO, form, headers=headers, **kw)


def form_post(target: str, form: dict | bytes, content_type: str | None = FORM_TYPE, headers=()):
    body = form if isinstance(form, bytes) else urlencode(form).encode()
    if content_type is not None:
        headers = (("Content-Type", content_type), *headers)
    return Request("POST", target, tuple(headers), body)


def delivered(sid: str, status: str = "delivered", account: str = TWILIO_ACCOUNT) -> dict:
    return {"MessageSid": sid, "MessageStatus": status, "AccountSid": account, "To": "+86138"}


def hand_written(phone: Phones) -> Iterator[Request]:
    """Every operation, valid and invalid, in every spelling worth trying."""
    # The documents and operations without a body.
    for target in (
        HEALTHZ,
        HEALTHZ + "?probe=1&probe=2",
        READYZ,
        METRICS,
        "/openapi.json",
        "/openapi.yaml",
        "/",
        "/docs",
        "/docs?x=1",
        UI,
        UI + "/",
        UI + "/swagger-ui.css",
        UI + "/swagger-initializer.js",
        UI + "/no-such-asset.js",
    ):
        yield Request("GET", target)
    yield Request("HEAD", HEALTHZ)
    yield Request("GET", HEALTHZ, (("Content-Type", "text/plain"),), b"hello")
    yield Request("GET", HEALTHZ, (("Accept-Language", "z" * 300),))
    yield Request("GET", READYZ, (("X-APP-Key", "whatever"),))
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        yield Request(method, HEALTHZ)
    yield Request("POST", "/openapi.json", (("Content-Type", JSON_TYPE),), b"{}")
    # Trailing slashes and unknown paths (rule 3).
    for target in (
        HEALTHZ + "/",
        HEALTHZ + "/?probe=1",
        HEALTHZ + "%2F",
        METRICS + "/",
        "/openapi.json/",
        "/docs/",
        "//docs",
        BASE_PATH,
        BASE_PATH + "/",
        BASE_PATH + "/openapi.json",
        BASE_PATH + "/HEALTHZ",
        "/no/such/path",
        "/apiaccess/rest/ipccprovision/v2/healthz",
    ):
        yield Request("GET", target)
    yield json_post(GENERATE + "/", {"phone": phone()})
    yield json_post(GENERATE + "//", {"phone": phone()})
    yield json_post(BASE_PATH + "/applyTry/generateVerifyCode", {"phone": phone()})
    yield json_post(APPLY + "/", {"phone": phone()})
    yield form_post(HUAWEI + "/?message=m&token=t", {"smsMsgId": "1", "status": "DELIVRD"})
    yield Request("DELETE", TWILIO + "/")

    # generateverifycode: every media type spelling, each with a fresh phone.
    for spelling in MEDIA_SPELLINGS:
        yield json_post(GENERATE, {"phone": phone()}, spelling)
    yield json_post(GENERATE, {"phone": phone()}, None)
    yield json_post(GENERATE, b"", None)
    yield json_post(GENERATE, {"phone": phone()}, headers=(("Content-Type", JSON_TYPE),))
    yield json_post(GENERATE, {}, "Application/Json")
    yield json_post(GENERATE, {"phone": "12"}, "application/json; charset=UTF-8")
    yield json_post(GENERATE, b"\xff\xfe", "application/json; charset=latin-1")
    # Phone spellings, and one phone asked for twice in two spellings.
    for spell in SPELLINGS.values():
        yield json_post(GENERATE, {"phone": spell(phone())})
    twice = phone()
    yield json_post(GENERATE, {"phone": twice})
    yield json_post(GENERATE, {"phone": SPELLINGS["international"](twice)})
    yield json_post(GENERATE, {"phone": twice}, headers=(("Accept-Language", "zh-CN"),))
    for value in (
        "",
        " ",
        "abc",
        "12345",
        "01012345678",
        "+1 202 555 0100",
        "+86 138 0013 8000 0000 0000 0000 00",
        "１３８ａ",
        "13800138000\u0000",
        "138-0013-8000; DROP TABLE",
        13800138000,
        1.5,
        True,
        None,
        [],
        {},
        ["13800138000"],
    ):
        yield json_post(GENERATE, {"phone": value})
    # Bodies that are no object, or no JSON, or not RFC 8259.
    for body in (
        b"",
        b"null",
        b"[]",
        b'"13800138000"',
        b"123",
        b"true",
        b"   ",
        b"{",
        b'{"phone": "138',
        b"{phone: 13800138000}",
        b"{'phone': '13800138000'}",
        b'{"phone": "13800138000",}',
        b'{"phone": "13800138000"} trailing',
        b'{"phone": "\\ud800"}',
        b'{"phone": "\x01"}',
        b'{"phone": "\xff\xfe"}',
        b'{"phone": "\xe4\xb8\xad"}',
        b'\xef\xbb\xbf{"phone": "13800138000"}',
        b'{"phone": 1e400}',
        b'{"phone": "' + phone().encode() + b'", "other": 1e400}',
        b'{"phone": -0.0}',
        b'{"phone": ' + b"9" * 99 + b"}",
        b'{"phone": "' + b"9" * 5000 + b'"}',
        b'{"phone": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"[" * 3000 + b"]" * 3000,
        b"NaN",
        b'{"phone": NaN}',
        b'{"phone": Infinity}',
        b'{"phone": -Infinity}',
        b'{"phone": "x", "other": [1, NaN]}',
        b'{"phone": "' + phone().encode() + b'", "other": [1, NaN]}',
        b'{"phone": "' + phone().encode() + b'", "other": {"x": -Infinity}}',
        b'{"phone": "' + phone().encode() + b'", "other": ' + b"9" * 5000 + b"}",
        b'{"phone": "' + phone().encode() + b'", "other": ' + b"9" * 101 + b"}",
        b'{"phone": "' + phone().encode() + b'", "other": -0.' + b"5" * 150 + b"}",
        b'{"phone": ' + b"9" * 5000 + b"}",
        b'{"phone": -' + b"9" * 4400 + b"}",
        b'{"phone": ' + b"9" * 101 + b"}",
        b'{"phone": 0.' + b"1" * 200 + b"}",
        b'{"phone": 1' + b"0" * 120 + b"e5}",
        b"9" * 5000,
        b'{"phone": "12", "phone": "' + phone().encode() + b'"}',
        b'{"phone": "' + phone().encode() + b'", "x": {"a": 1, "a": 2}}',
        b'{"phone": "' + phone().encode() + b'", "x": [{"b": 1, "b": 1}]}',
    ):
        yield json_post(GENERATE, body)
    yield json_post(GENERATE, b'{"phone": NaN}', "application/json; charset=latin-1")
    yield json_post(GENERATE, b'{"phone": NaN}', "Application/JSON")
    yield json_post(GENERATE, {"phone": phone(), "extra": 1, "nested": {"a": [1, 2]}})
    yield json_post(GENERATE, {"phone": phone(), "phone2": phone()})
    # Framing: chunked, a declared length over the limit.
    yield json_post(GENERATE, {"phone": phone()}, chunked=True)
    yield json_post(GENERATE, {"phone": "1"}, chunked=True)
    yield json_post(GENERATE, b"", content_length=str(MAX_BODY_BYTES + 1))
    yield json_post(GENERATE, b"", None, content_length=str(MAX_BODY_BYTES + 1))
    # Accept-Language, valid and not; X-APP-Key (no keys configured: any key passes).
    for language in LANGUAGES:
        yield json_post(GENERATE, {"phone": phone()}, headers=(("Accept-Language", language),))
        yield json_post(GENERATE, {"phone": "1"}, headers=(("Accept-Language", language),))
    yield json_post(GENERATE, {"phone": phone()}, headers=(("Accept-Language", b"zh-\xe4"),))
    yield json_post(GENERATE, {"phone": "1"}, "text/plain", (("Accept-Language", "z" * 300),))
    yield json_post(GENERATE, {"phone": "1"}, "text/plain", (("Accept-Language", "zh"),))
    yield json_post(GENERATE, {"phone": "1"}, None, (("Accept-Language", "zh"),))
    for key in ("ak_0000_whatever", "", "x" * 2000, b"\xe4\xb8\xad"):
        yield json_post(GENERATE, {"phone": phone()}, headers=(("X-APP-Key", key),))
    # Query strings and wrong methods.
    yield json_post(GENERATE + "?phone=13800138000&x=1", {"phone": phone()})
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        yield Request(method, GENERATE)
        yield Request(method, APPLY)
    yield Request("PUT", GENERATE, (("Content-Type", JSON_TYPE),), b'{"phone": "13800138000"}')

    # applyTenant: the way to a tenant and back, with codes from each side's outbox.
    number = phone()
    e164 = "+86" + number
    apply = {
        "companyName": f"公司 {number}",
        "phone": number,
        "phoneVerifyCode": "@WRONG@",
        "email": f"trial-{number}@example.com",
    }
    yield json_post(GENERATE, {"phone": number})
    yield json_post(APPLY, apply, code_of=e164)
    yield json_post(APPLY, {**apply, "phoneVerifyCode": "@WIDE@"}, code_of=e164)
    yield json_post(APPLY, {**apply, "phoneVerifyCode": "@CODE@"}, code_of=e164)
    yield json_post(GENERATE, {"phone": number})
    other = phone()
    yield json_post(GENERATE, {"phone": other})
    yield json_post(
        APPLY, {**apply, "phone": other, "phoneVerifyCode": "@CODE@"}, code_of="+86" + other
    )
    # The same in Chinese, spelled otherwise (rule 1). Nothing follows on this phone, company
    # or email: while the tuned app does not follow the rule, the two sides' state differs.
    number = phone()
    zh = (("Accept-Language", "zh-CN"),)
    spelled = "Application/JSON; charset=UTF-8"
    apply = {
        "companyName": f"公司 {number}",
        "phone": SPELLINGS["full-width"](number),
        "phoneVerifyCode": "@WRONG@",
        "email": f"trial-{number}@example.com",
    }
    yield json_post(GENERATE, {"phone": number}, headers=zh)
    yield json_post(APPLY, apply, spelled, zh, code_of="+86" + number)
    yield json_post(
        APPLY, {**apply, "phoneVerifyCode": "@CODE@"}, spelled, zh, code_of="+86" + number
    )
    # Codes with spaces, and applications that cannot succeed.
    spaced = phone()
    yield json_post(GENERATE, {"phone": spaced})
    code_with_spaces = {
        "companyName": "Spaced Ltd",
        "phone": spaced,
        "phoneVerifyCode": " @CODE@ ",
        "email": "spaced@example.com",
    }
    yield json_post(APPLY, code_with_spaces, code_of="+86" + spaced)
    valid = {
        "companyName": "一键试用公司",
        "phone": phone(),
        "phoneVerifyCode": "123456",
        "email": "trial@example.com",
    }
    yield json_post(APPLY, valid)
    for name in valid:
        yield json_post(APPLY, {k: v for k, v in valid.items() if k != name})
    for name, value in (
        ("companyName", ""),
        ("companyName", "   "),
        ("companyName", "\u3000\u200b"),
        ("companyName", "x" * 129),
        ("companyName", 42),
        ("phone", "12"),
        ("phone", None),
        ("phoneVerifyCode", ""),
        ("phoneVerifyCode", "1" * 17),
        ("phoneVerifyCode", "１２３４５６"),
        ("phoneVerifyCode", "12 34 56"),
        ("phoneVerifyCode", "abcdef"),
        ("phoneVerifyCode", 123456),
        ("email", "not-an-email"),
        ("email", "a@b"),
        ("email", "x@example.test"),
        ("email", "x@example.local"),
        ("email", "x@"),
        ("email", "a" * 250 + "@example.com"),
        ("email", "用户@例子.公司"),
        ("email", ["trial@example.com"]),
        ("extra", {"deep": [1, 2, {"x": None}]}),
    ):
        yield json_post(APPLY, {**valid, "phone": phone(), name: value})
    for body in (
        b"",
        b"null",
        b"[]",
        b"{}",
        b'{"companyName": "x", "phone": "13800138000", "phoneVerifyCode": NaN, "email": "a@b.c"}',
        b'{"companyName": "x", "companyName": "y", "phone": "1", "phoneVerifyCode": "1", '
        b'"email": "a@example.com"}',
        b'{"companyName": ' + b"1" * 5000 + b"}",
        b'{"companyName": "\xff"}',
    ):
        yield json_post(APPLY, body)
    for spelling in (None, "text/plain", "application/json; charset=latin-1", "json", ";"):
        yield json_post(APPLY, {**valid, "phone": phone()}, spelling)
    yield json_post(APPLY, {**valid, "phone": phone()}, headers=(("Accept-Language", "zh"),))
    yield json_post(APPLY, {**valid, "phone": "12"}, headers=(("Accept-Language", "zh"),))
    yield json_post(APPLY, valid, headers=(("X-APP-Key", "ak_0000_whatever"),))

    # Delivery receipts: Huawei's token, Twilio's signature, and the form's media type.
    receipt = {"smsMsgId": "hw-1", "status": "DELIVRD", "to": "+8613800138000"}
    yield huawei_receipt(receipt)
    yield huawei_receipt({**receipt, "status": "UNDELIV", "extend": "x", "unknown": "y"})
    yield huawei_receipt(receipt, token="0" * 32)
    yield huawei_receipt(receipt, message="m-2", token="")
    yield huawei_receipt(receipt, token="t" * 65)
    yield huawei_receipt(receipt, message="m" * 65)
    yield form_post(HUAWEI + "?message=m-1", receipt)
    yield form_post(HUAWEI, receipt)
    yield huawei_receipt({"status": "DELIVRD"})
    yield huawei_receipt({"smsMsgId": "hw-1"})
    yield huawei_receipt({**receipt, "status": "S" * 33})
    yield huawei_receipt({**receipt, "note": "n" * 1025})
    yield huawei_receipt(b"")
    yield huawei_receipt(b"smsMsgId=hw-1&status=DELIVRD&smsMsgId=hw-2")
    yield huawei_receipt(b"smsMsgId=%FF%FE&status=DELIVRD")
    yield huawei_receipt(b"\xff\xfe=1")
    yield huawei_receipt(b"not a form")
    yield huawei_receipt(b'{"smsMsgId": "hw-1", "status": "DELIVRD"}', content_type=JSON_TYPE)
    for spelling in FORM_SPELLINGS:
        yield huawei_receipt(receipt, content_type=spelling)
        yield twilio_receipt(delivered("SM-1"), content_type=spelling)
    yield huawei_receipt(receipt, content_type=None)
    yield twilio_receipt(delivered("SM-1"), content_type=None)
    yield twilio_receipt(delivered("SM-2"))
    yield twilio_receipt(delivered("SM-3", "sent"))
    yield twilio_receipt({**delivered("SM-4", "failed"), "ErrorCode": "30003"})
    yield twilio_receipt(delivered("SM-5"), signature="AAAA")
    yield twilio_receipt(delivered("SM-6"), signature="")
    yield form_post(TWILIO, delivered("SM-6"), headers=(("X-Twilio-Signature", ""),))
    yield twilio_receipt(delivered("SM-7"), signature="A" * 129)
    yield twilio_receipt(delivered("SM-8", account="AC" + "9" * 32))
    yield twilio_receipt({"MessageSid": "SM-9", "MessageStatus": "delivered"})
    yield twilio_receipt({**delivered("SM-10"), "ErrorCode": "1" * 17})
    yield Request("GET", HUAWEI + "?message=m-1&token=t")
    yield Request("GET", TWILIO)


# -- Generated requests -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FreshPhone:
    """Becomes a fresh phone number, spelled so, when the request is made."""

    spelling: str


@dataclasses.dataclass(frozen=True)
class Draft:
    method: str
    path: str
    value: object = None  # the body before serialising: JSON value or form fields
    mutation: str = "none"  # how the JSON text is bent (duplicate, constant, long number)
    content_type: str | None = None
    language: str | None = None
    app_key: str | None = None
    proof: bool = True  # receipts: with the right token or signature
    routing: bool = False  # only the method and path matter


def _mixed_case(text: str):
    return st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
        lambda flags: "".join(c.upper() if up else c for c, up in zip(text, flags, strict=True))
    )


def _content_types(canonical: str, spellings: tuple[str, ...]):
    charsets = st.sampled_from(
        ["", "; charset=utf-8", ";charset=UTF-8", ' ; Charset="utf-8"', "; charset=latin-1"]
    )
    varied = st.tuples(_mixed_case(canonical), charsets).map("".join)
    return st.one_of(
        st.just(canonical),
        st.just(canonical),
        st.just(canonical),
        st.sampled_from(spellings),
        varied,
        st.none(),
    )


_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_digits = st.text(alphabet="0123456789０１２３４５６７８９", min_size=1, max_size=14)
_phoneish = st.text(alphabet="0123456789０１２３４５６７８９ +-().", max_size=33)
_languages = st.one_of(
    st.none(),
    st.none(),
    st.sampled_from(LANGUAGES),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300),
    st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x3000, exclude_characters="\x7f"),
        max_size=30,
    ),
)
_fields = {
    "phone": st.one_of(
        st.builds(FreshPhone, st.sampled_from(list(SPELLINGS))),
        st.builds(FreshPhone, st.sampled_from(list(SPELLINGS))),
        _phoneish,
        st.text(max_size=40),
        _json_values,
    ),
    "companyName": st.one_of(
        st.text(max_size=140), st.sampled_from([" ", "\u3000", "公司"]), _json_values
    ),
    "phoneVerifyCode": st.one_of(_digits, st.text(max_size=20), _json_values),
    "email": st.one_of(
        st.sampled_from(["trial@example.com", "x@example.test", "not-an-email", "用户@例子.公司"]),
        st.emails(),
        st.text(max_size=30),
        _json_values,
    ),
}
FIELDS_OF = {GENERATE: ("phone",), APPLY: ("phone", "companyName", "phoneVerifyCode", "email")}


@st.composite
def json_drafts(draw) -> Draft:
    path = draw(st.sampled_from([GENERATE, GENERATE, APPLY]))
    if draw(st.integers(0, 9)) == 0:
        value = draw(_json_values)
    else:
        value = {}
        for name in FIELDS_OF[path]:
            if draw(st.integers(0, 9)) > 0:
                value[name] = draw(_fields[name])
        value.update(draw(st.dictionaries(st.text(max_size=8), _json_values, max_size=2)))
    mutation = draw(st.sampled_from(["none"] * 12 + ["duplicate", "constant", "long number"]))
    return Draft(
        "POST",
        path,
        value,
        mutation,
        draw(_content_types(JSON_TYPE, MEDIA_SPELLINGS)),
        draw(_languages),
        draw(
            st.one_of(
                st.none(),
                st.none(),
                st.none(),
                st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
            )
        ),
    )


@st.composite
def receipt_drafts(draw) -> Draft:
    path = draw(st.sampled_from([HUAWEI, TWILIO]))
    names = ["smsMsgId", "status", "to"] if path == HUAWEI else ["MessageSid", "MessageStatus"]
    names.append("AccountSid" if path == TWILIO else "extend")
    form = {}
    for name in names:
        if draw(st.integers(0, 5)) > 0:
            form[name] = draw(
                st.one_of(st.sampled_from(["DELIVRD", "delivered", "sent"]), st.text(max_size=40))
            )
    if path == TWILIO and "AccountSid" in form and draw(st.booleans()):
        form["AccountSid"] = TWILIO_ACCOUNT
    form.update(
        draw(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=2))
    )
    return Draft(
        "POST",
        path,
        form,
        content_type=draw(_content_types(FORM_TYPE, FORM_SPELLINGS)),
        proof=draw(st.booleans()),
    )


@st.composite
def path_drafts(draw) -> Draft:
    path = draw(st.sampled_from(sorted(ROUTES)))
    suffix = draw(st.sampled_from(["", "/", "//", "x", "/x", "%2F", ".json", "?a=1", "/?a=1"]))
    method = draw(st.sampled_from(["GET", "GET", "POST", "PUT", "DELETE", "OPTIONS"]))
    content_type = draw(st.sampled_from([None, JSON_TYPE]))
    return Draft(method, path + suffix, content_type=content_type, routing=True)


GENERATED = ((json_drafts(), 300), (receipt_drafts(), 60), (path_drafts(), 50))


def drafts(strategy, count: int) -> list[Draft]:
    """Up to ``count`` distinct examples of ``strategy``, the same on every run."""
    drawn: dict[str, Draft] = {}

    @hypothesis.settings(
        max_examples=count,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @hypothesis.given(strategy)
    def collect(draft):
        drawn.setdefault(repr(draft), draft)

    collect()
    return list(drawn.values())


def _fresh(value, phone: Phones):
    if isinstance(value, FreshPhone):
        return SPELLINGS[value.spelling](phone())
    if isinstance(value, dict):
        return {name: _fresh(item, phone) for name, item in value.items()}
    if isinstance(value, list):
        return [_fresh(item, phone) for item in value]
    return value


def _valid_phone(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_phone(value, ("CN",))
    except Exception:
        return False
    return True


def _json_text(value, mutation: str, seed: int) -> bytes:
    if isinstance(value, dict) and value and mutation != "none":
        name = sorted(value)[seed % len(value)]
        if mutation == "duplicate":
            head = json.dumps(name, ensure_ascii=False) + ": " + json.dumps(seed) + ", "
            return ("{" + head + json.dumps(value, ensure_ascii=False)[1:]).encode()
        if mutation == "constant":
            value = {**value, name: [float("nan"), float("inf"), float("-inf")][seed % 3]}
        else:
            value = {**value, name: "@LONG@"}
    text = json.dumps(value, ensure_ascii=bool(seed % 2))
    return text.replace('"@LONG@"', "7" * (101 + seed * 97 % 5000)).encode()


def realise(draft: Draft, phone: Phones, seed: int) -> Request:
    """The request a draft stands for, with fresh phones and the receipts' proofs."""
    if draft.routing:
        headers = (("Content-Type", draft.content_type),) if draft.content_type else ()
        body = b'{"phone": "1"}' if draft.method == "POST" else b""
        return Request(draft.method, draft.path, headers, body)
    if draft.path in (HUAWEI, TWILIO):
        form = draft.value
        if draft.path == HUAWEI:
            message = f"gen-{seed}"
            token = Digests(SECRET.encode()).receipt(message) if draft.proof else "f" * 32
            return huawei_receipt(form, message, token, content_type=draft.content_type)
        signature = None if draft.proof else "AAAA"
        return twilio_receipt(form, signature, content_type=draft.content_type)
    value = _fresh(draft.value, phone)
    drawn = value.get("phone") if isinstance(value, dict) else None
    if not isinstance(draft.value["phone"] if drawn else None, FreshPhone) and _valid_phone(drawn):
        # A valid number drawn at random may be drawn again: make it one of its own.
        value["phone"] = phone()
    headers = []
    if draft.language is not None:
        headers.append(("Accept-Language", draft.language))
    if draft.app_key is not None:
        headers.append(("X-APP-Key", draft.app_key))
    return json_post(
        draft.path, _json_text(value, draft.mutation, seed), draft.content_type, headers
    )


def corpus() -> list[Request]:
    phone = Phones()
    requests = list(hand_written(phone))
    for strategy, count in GENERATED:
        requests += [realise(d, phone, seed) for seed, d in enumerate(drafts(strategy, count))]
    return requests


# -- Running it ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Exchange:
    request: Request
    verdict: Verdict
    tuned: Answer
    stock: Answer  # the oracle's answer to verdict.oracle or else to the request


@dataclasses.dataclass
class Run:
    exchanges: list[Exchange]
    seconds: float
    hand_written: int
    report: Path


def _with_access_codes(workdir: Path) -> Path:
    """The workdir of one side, its pool holding enough trial access codes."""
    workdir.mkdir(parents=True, exist_ok=True)
    codes = workdir / "access-codes.txt"
    codes.write_text("".join(f"95{n:06d}\n" for n in range(ACCESS_CODES)))
    env = {f"APPLYTRY_{name.upper()}": str(value) for name, value in SETTINGS.items()}
    subprocess.run(
        [sys.executable, "-m", "applytry.cli", "access-codes", "import", str(codes)],
        cwd=workdir,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return workdir


def ask(side: ServiceProcess, request: Request) -> Answer:
    """One side's answer; the oracle is asked what the verdict says it must be asked."""
    if isinstance(side, OracleProcess):
        request = judge(request).oracle or request
    body = request.body_for(side.workdir / "outbox" / "sms.jsonl")
    return exchange(side.port, request.wire(body))


@pytest.fixture(scope="module")
def differential(tmp_path_factory, reports) -> Run:
    requests = corpus()
    hand = sum(1 for _ in hand_written(Phones()))
    root = tmp_path_factory.mktemp("differential")
    tuned = ServiceProcess(_with_access_codes(root / "tuned"), settings=SETTINGS)
    stock = OracleProcess(_with_access_codes(root / "stock"), settings=SETTINGS)
    with tuned, stock:
        started = time.monotonic()
        exchanges = []
        for request in requests:
            verdict = judge(request)
            answers = [ask(side, request) for side in (tuned, stock)]
            exchanges.append(Exchange(request, verdict, answers[0], answers[1]))
        seconds = time.monotonic() - started
    run = Run(exchanges, seconds, hand, reports / "differential.txt")
    run.report.write_text(report(run), encoding="utf-8")
    return run


def comparable(request: Request, answer: Answer):
    """What must be equal: status, Content-Type and body (parsed when JSON), less what
    differs from run to run (the seconds in a 429's detail)."""
    content_type = answer.header("content-type")
    body: object = answer.body
    if request.path == METRICS:
        body = "(not compared)"
    elif content_type and content_type.split(";")[0].strip().endswith("json"):
        with contextlib.suppress(ValueError):
            body = json.loads(answer.body)
        if isinstance(body, dict) and body.get("status") == 429 and "detail" in body:
            body["detail"] = re.sub(r"\d+", "N", str(body["detail"]))
    return answer.status, content_type, body


def tuned_problem_is_wrong(exchange: Exchange) -> str | None:
    """Why the tuned answer is not the problem the verdict's rule prescribes, if it is not."""
    request, status, answer = exchange.request, exchange.verdict.status, exchange.tuned
    if answer.status != status:
        return f"status {answer.status}, not {status}"
    if answer.header("content-type") != PROBLEM_TYPE:
        return f"Content-Type {answer.header('content-type')}, not {PROBLEM_TYPE}"
    try:
        body = json.loads(answer.body)
    except ValueError:
        return "the body is not JSON"
    if not isinstance(body, dict):
        return "the body is not a problem document"
    languages = request.header("accept-language")
    title = messages.problem_title(status, messages.negotiate(languages[0] if languages else None))
    if body.get("status") != status or body.get("type") != "about:blank":
        return f"the problem's status or type is wrong: {body}"
    if body.get("title") != title:
        return f"the problem's title is not {title!r}"
    return None


def differs(exchange: Exchange) -> bool:
    return comparable(exchange.request, exchange.tuned) != comparable(
        exchange.request, exchange.stock
    )


def described(exchange: Exchange, why: str | None = None) -> str:
    lines = [f"  {exchange.request}"]
    if why:
        lines.append(f"    why: {why}")
    lines.append(f"    tuned: {exchange.tuned}")
    oracle = exchange.verdict.oracle
    asked = f" (asked with Content-Type {oracle.header('content-type')[0]!r})" if oracle else ""
    lines.append(f"    stock{asked}: {exchange.stock}")
    return "\n".join(lines)


def rule_broken(item: Exchange) -> str | None:
    """How the tuned answer breaks the deliberate difference that decides it, if it does."""
    if item.verdict.status is not None:
        return tuned_problem_is_wrong(item)
    if differs(item):
        return "not the oracle's answer to the spec's own spelling of the media type"
    return None


def report(run: Run) -> str:
    unexpected = [item for item in run.exchanges if not item.verdict.reason and differs(item)]
    lines = [
        f"differential corpus: {len(run.exchanges)} requests "
        f"({run.hand_written} hand-written, {len(run.exchanges) - run.hand_written} generated), "
        f"{run.seconds:.1f} s",
        f"answered differently: {sum(map(differs, run.exchanges))}",
        "",
        f"UNEXPECTED, no deliberate difference explains them: {len(unexpected)}",
        *(described(item) for item in unexpected),
    ]
    for rule in RULES:
        decided = [item for item in run.exchanges if item.verdict.reason == rule]
        shown = [item for item in decided if differs(item) or rule_broken(item)]
        broken = sum(1 for item in decided if rule_broken(item))
        lines += ["", f"{rule}", f"  decides {len(decided)} requests, {broken} not by the rule;"]
        lines[-1] += f" {sum(map(differs, decided))} answered differently:"
        lines += [described(item, rule_broken(item)) for item in shown]
    return "\n".join(lines) + "\n"


# -- The tests ----------------------------------------------------------------------------


def test_corpus(differential, capsys):
    size = len(differential.exchanges)
    with capsys.disabled():
        print(
            f"\ndifferential corpus: {size} requests ({differential.hand_written} hand-written), "
            f"{differential.seconds:.1f} s; the differences are in {differential.report}"
        )
    assert 300 <= size <= 1000
    assert all(item.tuned.status and item.stock.status for item in differential.exchanges)


def test_same_answers_outside_the_deliberate_differences(differential):
    wrong = [
        item for item in differential.exchanges if item.verdict.reason is None and differs(item)
    ]
    assert not wrong, (
        f"{len(wrong)} requests are answered differently by the tuned app and stock connexion, "
        "and no deliberate difference explains it (a bug in applytry.framework):\n"
        + "\n".join(described(item) for item in wrong)
    )


@pytest.mark.parametrize("rule", RULES, ids=["media-types", "strict-json", "no-redirects"])
def test_deliberate_difference(differential, rule):
    judged = [item for item in differential.exchanges if item.verdict.reason == rule]
    assert judged, f"the corpus tries nothing that {rule!r} decides"
    wrong = [described(item, rule_broken(item)) for item in judged if rule_broken(item)]
    assert not wrong, f"{rule}; {len(wrong)} of {len(judged)} requests:\n" + "\n".join(wrong)


def test_connexion_is_the_version_framework_was_written_for():
    installed = version("connexion")
    assert tuple(int(part) for part in installed.split(".")[:2]) == FRAMEWORK_WRITTEN_FOR, (
        f"connexion {installed} is installed, but applytry.framework re-implements parts of "
        f"connexion {'.'.join(map(str, FRAMEWORK_WRITTEN_FOR))} (its validators, decorators, "
        "security and routing): re-run contract-tests/test_differential.py against the new "
        "version, update impl/framework.py where it differs, then FRAMEWORK_WRITTEN_FOR here"
    )
