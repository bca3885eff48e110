"""The HTTP edge as a careful client and an attacker meet it: media types by RFC 9110, JSON by
RFC 8259, unknown paths, CORS preflights, request ids in the log, and the spec's examples and
security requirement against what the service really does.

Most requests go over a raw socket to ``applytry serve``, so that the bytes on the wire are the
ones a client sent, unmended by an HTTP library.
"""

from __future__ import annotations

import json
import re
import socket

import pytest

from applytry import contract, keys
from applytry.digests import Digests
from applytry.testing import ServiceProcess
from conftest import APPLY, GENERATE, SECRET, Outbox

BASE = "/apiaccess/rest/ipccprovision/v1"
HUAWEI_RECEIPT = BASE + "/sms/receipts/huawei"
SPEC = contract.document()  # parsed once a process, by libyaml
WEBSITE = "https://www.example.com"


class Reply:
    def __init__(self, raw: bytes):
        head, _, self.body = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def json(self):
        return json.loads(self.body)

    @property
    def problem(self) -> dict:
        assert self.headers["content-type"] == "application/problem+json", self.body
        found = self.json()
        assert found["type"] == "about:blank" and found["status"] == self.status
        return found


def exchange(url: str, request: bytes, timeout_s: float = 10) -> Reply:
    """One request on its own connection; reads until the server closes it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return Reply(b"".join(chunks))


def post(url: str, path: str, body: bytes, content_type: str | None, **headers: str) -> Reply:
    headers.setdefault("Host", "127.0.0.1")
    lines = [f"POST {path} HTTP/1.1", "Connection: close"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return exchange(url, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def phone_body(n: int) -> bytes:
    return json.dumps({"phone": f"1370013{n:04d}"}).encode()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """One service for the module: every test uses its own phones, and the per-client limit is
    out of the way (it is tested in test_generate.py and test_edge_server.py)."""
    folder = tmp_path_factory.mktemp("edge")
    settings = {
        "database_url": f"sqlite:///{folder / 'applytry.db'}",
        "secret": SECRET,
        "sms_outbox": folder / "outbox" / "sms.jsonl",
        "ip_per_minute": 100_000,
        "cors_origins": WEBSITE,
    }
    with ServiceProcess(folder, settings=settings) as process:
        process.outbox = Outbox(folder / "outbox" / "sms.jsonl")
        yield process


# --- media types ---------------------------------------------------------------------------


JSON_SPELLINGS = [
    "application/JSON",
    "Application/Json",
    "application/json ; charset=utf-8",
    "application/json;charset=UTF-8",
    'application/json; charset="utf-8"',
    "application/json; version=1",
]


@pytest.mark.parametrize("content_type", JSON_SPELLINGS)
def test_json_is_accepted_in_every_spelling_rfc_9110_allows(service, content_type):
    reply = post(
        service.url, GENERATE, phone_body(100 + JSON_SPELLINGS.index(content_type)), content_type
    )
    assert reply.status == 200, reply.body
    assert reply.json()["retCode"] == "200"


@pytest.mark.parametrize(
    ("content_type", "detail"),
    [
        (None, "Content-Type is missing"),
        ("application/json; charset=utf-16", "Unsupported charset (utf-16)"),
        ("application/json; charset=latin-1", "Unsupported charset (latin-1)"),
        ("text/plain", "Invalid Content-type (text/plain)"),
        ("application/", "Invalid Content-type (application/)"),
        ("application/json; charset", "Invalid Content-type"),
        ("application/json; charset=iso-8859-1; charset=utf-8", "Invalid Content-type"),
        ("application/x-www-form-urlencoded", "Invalid Content-type"),
    ],
)
def test_other_media_types_and_charsets_are_415_and_send_nothing(service, content_type, detail):
    sent = len(service.outbox.messages())
    reply = post(service.url, GENERATE, phone_body(200), content_type)
    assert reply.status == 415
    assert reply.problem["detail"].startswith(detail)
    assert len(service.outbox.messages()) == sent


def test_two_content_types_are_no_media_type(service):
    request = (
        f"POST {GENERATE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Content-Type: text/plain\r\nContent-Type: application/json\r\n"
    ).encode() + b"Content-Length: %d\r\n\r\n%s" % (len(phone_body(201)), phone_body(201))
    assert exchange(service.url, request).status == 415


@pytest.mark.parametrize(
    "content_type", ["Application/X-WWW-Form-Urlencoded", "application/x-www-form-urlencoded"]
)
@pytest.mark.parametrize("form", [b"status=DELIVRD", b"status=DELIVRD&smsMsgId=" + b"m" * 500])
def test_receipts_are_validated_whatever_the_case_of_their_media_type(service, content_type, form):
    token = Digests(SECRET.encode()).receipt("some-message")
    path = f"{HUAWEI_RECEIPT}?message=some-message&token={token}"
    reply = post(service.url, path, form, content_type)
    assert reply.status == 400
    assert "smsMsgId" in reply.problem["detail"]


def test_a_receipt_in_json_is_415_titled_for_what_the_operation_takes(service):
    token = Digests(SECRET.encode()).receipt("some-message")
    path = f"{HUAWEI_RECEIPT}?message=some-message&token={token}"
    reply = post(service.url, path, b'{"status": "DELIVRD"}', "application/json")
    assert reply.status == 415
    assert "application/json" not in reply.problem["title"]
    assert "application/x-www-form-urlencoded" in reply.problem["detail"]


# --- JSON ----------------------------------------------------------------------------------

NOT_RFC_8259 = {
    "NaN": (b'{"phone": "13700130300", "x": NaN}', "NaN is not a JSON number"),
    "Infinity": (b'{"phone": "13700130301", "x": Infinity}', "Infinity is not"),
    "-Infinity": (b'{"phone": "13700130302", "x": -Infinity}', "-Infinity is not"),
    "overflow": (b'{"phone": "13700130303", "x": 1e400}', "1e400 is out of range"),
    "4,300 digits": (b'{"phone": ' + b"7" * 4300 + b"}", "a number in the body is longer"),
    "5,000 digits": (b'{"phone": "13700130304", "x": -' + b"9" * 5000 + b"}", "a number"),
    "duplicate": (b'{"phone": "1", "phone": "13700130305"}', 'duplicate key "phone"'),
    "a lone surrogate": (
        b'{"phone": "13700130306", "companyName": "A\\ud800", "phoneVerifyCode": "12\\udc00"}',
        "a string in the body has a lone surrogate",
    ),
}


@pytest.mark.parametrize("path", [GENERATE, APPLY])
@pytest.mark.parametrize("case", NOT_RFC_8259)
def test_json_that_is_not_rfc_8259_is_400_and_sends_nothing(service, path, case):
    body, detail = NOT_RFC_8259[case]
    sent = len(service.outbox.messages())
    reply = post(service.url, path, body, "application/json")
    assert reply.status == 400
    assert reply.problem["detail"].startswith(detail)
    assert len(service.outbox.messages()) == sent


def test_a_body_that_is_not_utf_8_is_400(service):
    reply = post(service.url, GENERATE, b'{"phone": "\xff\xfe"}', "application/json")
    assert reply.status == 400 and "UTF-8" in reply.problem["detail"]


# --- paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [GENERATE + "/", APPLY + "/", "/openapi.json/", BASE + "/healthz/", BASE + "/nope"]
)
def test_unknown_paths_and_trailing_slashes_are_404_never_a_redirect(service, path):
    reply = post(service.url, path, phone_body(400), "application/json", Host="evil.example")
    assert reply.status == 404
    assert "location" not in reply.headers
    assert reply.problem["title"]
    assert "evil.example" not in reply.body.decode()


# --- CORS ----------------------------------------------------------------------------------


def preflight(url: str, origin: str) -> Reply:
    return exchange(
        url,
        (
            f"OPTIONS {GENERATE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: {origin}\r\n"
            "Access-Control-Request-Method: POST\r\n"
            "Access-Control-Request-Headers: content-type\r\n\r\n"
        ).encode(),
    )


def test_an_allowed_preflight_is_204_without_a_body(service):
    reply = preflight(service.url, WEBSITE)
    assert reply.status == 204 and reply.body == b""
    assert reply.headers["access-control-allow-origin"] == WEBSITE
    assert "content-type" not in reply.headers


def test_a_refused_preflight_is_a_403_problem(service):
    reply = preflight(service.url, "https://evil.example")
    assert reply.status == 403
    assert reply.problem["detail"] == "cross-origin request refused: origin not allowed"
    assert "access-control-allow-origin" not in reply.headers


# --- request ids ---------------------------------------------------------------------------


def log_lines(service) -> list[dict]:
    return [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("request_id", ["req-123456789-abc", "a1b2c3d4-1234567890123-x"])
def test_a_request_id_is_logged_exactly_as_it_is_echoed(service, request_id):
    reply = post(
        service.url, GENERATE, phone_body(500), "application/json", X_Request_ID=request_id
    )
    assert reply.headers["x-request-id"] == request_id
    logged = {line.get("request_id") for line in log_lines(service)}
    assert request_id in logged


@pytest.mark.parametrize("request_id", ["13700130501", "tel:13700130501", "+8613700130501-x"])
def test_a_request_id_that_holds_a_phone_number_is_replaced_and_phones_stay_masked(
    service, request_id
):
    reply = post(
        service.url, GENERATE, phone_body(501), "application/json", X_Request_ID=request_id
    )
    made = reply.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert "13700130501" not in service.log()
    assert any(line.get("request_id") == made for line in log_lines(service))


# --- the spec says what the service does --------------------------------------------------


def test_every_operation_that_names_a_key_requires_it_once_keys_exist(client_for):
    client = client_for(settings_refresh_s=0)
    assert client.post(GENERATE, json={"phone": "13700130600"}).status_code == 200  # no key yet
    keys.create(Digests(SECRET.encode()), "website", by="test")
    secured = [
        (path, method, operation)
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        if any("appKey" in need for need in operation.get("security", SPEC.get("security", [])))
    ]
    assert secured
    for path, method, operation in secured:
        examples = operation["requestBody"]["content"]["application/json"]["examples"]
        example = next(iter(examples.values()))["value"]
        reply = client.request(method.upper(), BASE + path, json=example)
        assert reply.status_code == 401, path
        requirement = SPEC["paths"][path][method]["security"]
        assert {} not in requirement, f"{path} says a key is optional, yet it is required"


def _provoke(client, clock, name: str):
    """A request that gets the spec's ``components/responses/<name>``."""
    key_header = {}
    if name in ("Unauthorized", "Forbidden"):
        keys.create(Digests(SECRET.encode()), "website", by="test")
        key_header = {"X-APP-Key": "ak_wrong"} if name == "Forbidden" else {}
    if name == "TooManyRequests":
        clock.now -= clock.now % 60 + 42  # 42 s before the minute ends, as the example says
        client.post(GENERATE, json={"phone": "13700130700"})
    if name == "InternalServerError":
        from applytry.db.models import Counter

        Counter._meta.database.execute_sql(f"DROP TABLE {Counter._meta.table_name}")
    if name == "NotFound":
        return client.get(BASE + "/nope")
    if name == "PayloadTooLarge":
        return client.post(GENERATE, content=b" " * 20_000, headers=JSON)
    if name == "UnsupportedMediaType":
        return client.post(GENERATE, content=b"13800138000", headers={"Content-Type": "text/plain"})
    if name == "ForgedReceipt":
        path = HUAWEI_RECEIPT + "?message=some-message&token=forged"
        return client.post(path, data={"smsMsgId": "1", "status": "DELIVRD"})
    phone = "12345" if name == "BadRequest" else "13700130701"
    return client.post(GENERATE, json={"phone": phone}, headers=key_header)


JSON = {"Content-Type": "application/json"}


# RequestTimeout comes from the HTTP server, below the app: test_edge_server.py checks it.
@pytest.mark.parametrize("name", sorted(set(SPEC["components"]["responses"]) - {"RequestTimeout"}))
def test_every_problem_example_in_the_spec_is_what_the_service_sends(client_for, clock, name):
    client = client_for(ip_per_minute=1, settings_refresh_s=0)
    example = SPEC["components"]["responses"][name]["content"]["application/problem+json"]
    reply = _provoke(client, clock, name)
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json() == example["example"]


@pytest.mark.parametrize("path", [GENERATE, APPLY])
def test_every_result_example_in_the_spec_is_what_the_service_sends(path):
    from applytry import messages

    operation = SPEC["paths"][path.removeprefix(BASE)]["post"]
    examples = operation["responses"]["200"]["content"]["application/json"]["examples"]
    for example in examples.values():
        value = example["value"]
        if value.get("challengeRequired"):
            assert value["retMsg"] == messages.challenge_message("en")
        elif "retCode" in value:
            assert value["retMsg"] == messages.ret_message(value["retCode"], "en")
        else:
            assert value["returnMsg"] == messages.return_message(value["returnCode"], "en")


def test_a_code_sent_where_the_spec_wants_a_string_never_reaches_the_log(service):
    """The validator's own words name the value that failed; a code sent as a number must
    not be written to the log with them."""
    body = b'{"companyName": "Leak Co", "phone": "13700130800", "phoneVerifyCode": 730298,'
    reply = post(service.url, APPLY, body + b' "email": "leak@example.com"}', "application/json")
    assert reply.status == 400
    assert "730298" in reply.problem["detail"]  # the caller is told, in its own reply
    assert "730298" not in service.log()
