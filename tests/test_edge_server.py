"""The HTTP edge, from outside: hostile clients against a real ``applytry serve``, over raw
sockets on the loopback.

Forged forwarding headers, framing two parsers could read differently, clients too slow to
finish a request, and a flood of them. Every loop is bounded in count and in time, and nothing
sleeps before it asserts: conditions are polled until a bound.
"""

from __future__ import annotations

import json
import os
import resource
import select
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from applytry import contract
from applytry.config import ConfigError, Settings
from applytry.messages import problem_title
from applytry.testing import HEALTHZ, ServiceProcess
from conftest import GENERATE, SECRET

pytestmark = pytest.mark.servers

TIMEOUT_S = 1  # APPLYTRY_REQUEST_TIMEOUT_S of the shared service
WAIT_S = 5  # the longest any test waits for the server to do something
PROBLEM_JSON = "application/problem+json"


SPEC = contract.document()  # parsed once a process, by libyaml


def phone(n: int) -> str:
    """A valid mainland mobile number, spread over ten ranges (130 to 139) so that no range's
    limit or allowance has a say (thirty fit the country's fresh budget, 30 an hour)."""
    return f"13{n % 10}{n:08d}"


# --- a client over a raw socket -----------------------------------------------------------


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def _split(data: bytes, closed: bool = False) -> tuple[Reply, bytes] | None:
    """The first response in ``data`` and what follows it; None while it is incomplete. A
    response without Content-Length runs to the end of a ``closed`` connection's data."""
    head, found, rest = data.partition(b"\r\n\r\n")
    if not found:
        return None
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(status_line.split()[1])
    if status < 200:
        length = 0
    elif "content-length" in headers:
        length = int(headers["content-length"])
    else:
        length = len(rest) if closed else len(rest) + 1
    if len(rest) < length:
        return None
    return Reply(status, headers, rest[:length]), rest[length:]


def replies_in(data: bytes) -> list[Reply]:
    """Every response in what a connection received before it closed."""
    replies = []
    while data:
        split = _split(data, closed=True)
        assert split is not None, f"an incomplete response: {data!r}"
        reply, data = split
        replies.append(reply)
    return replies


class Raw:
    """One connection to ``url``, from ``source`` (any address on the loopback)."""

    def __init__(self, url: str, source: str = "127.0.0.1"):
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.socket()
        self.sock.bind((source, 0))
        self.sock.settimeout(WAIT_S)
        self.sock.connect((host, int(port)))
        self.buffer = b""

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *_exc) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def readable(self, wait_s: float) -> bool:
        """Whether the server has sent something, or closed, within ``wait_s``."""
        return bool(select.select([self.sock], [], [], wait_s)[0])

    def reply(self) -> Reply:
        """The next response, read as far as its Content-Length."""
        deadline = time.monotonic() + WAIT_S
        while (split := _split(self.buffer)) is None:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = self.sock.recv(65536)
            assert chunk, f"closed before a whole response: {self.buffer!r}"
            self.buffer += chunk
        reply, self.buffer = split
        return reply

    def rest(self, bound_s: float = WAIT_S) -> tuple[list[Reply], bool]:
        """Every response until the server closes, and whether it closed within ``bound_s``."""
        deadline = time.monotonic() + bound_s
        closed = False
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            self.buffer += chunk
        data, self.buffer = self.buffer, b""
        return replies_in(data), closed


def request(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def generate(number: str, headers: dict[str, str] | None = None) -> bytes:
    return request("POST", GENERATE, headers, json.dumps({"phone": number}).encode())


HEALTH_CHECK = request("GET", HEALTHZ)


def assert_problem(reply: Reply, status: int) -> None:
    assert reply.status == status
    assert reply.headers["content-type"] == PROBLEM_JSON
    assert reply.headers["connection"] == "close"
    problem = reply.json()
    assert problem == {
        "type": "about:blank",
        "title": problem_title(status, "en"),
        "status": status,
        "detail": problem["detail"],
    }
    assert isinstance(problem["detail"], str) and problem["detail"]


def wait_until(condition, what: str, bound_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + bound_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {bound_s} s: {what}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """One service for the tests that need no settings of their own, where a request must
    arrive within TIMEOUT_S. SQLite whatever the suite's database: the edge is below it."""
    folder = tmp_path_factory.mktemp("edge")
    settings = {
        "database_url": f"sqlite:///{folder / 'applytry.db'}",
        "secret": SECRET,
        "sms_outbox": folder / "outbox" / "sms.jsonl",
        "request_timeout_s": TIMEOUT_S,
    }
    with ServiceProcess(folder, settings=settings) as process:
        yield process.url


# --- forwarding headers -------------------------------------------------------------------


def forged(n: int) -> dict[str, str]:
    address = f"198.51.100.{n}"
    return {"X-Forwarded-For": address, "X-Real-IP": address, "Forwarded": f"for={address}"}


def thirty_forged_requests(url: str, source: str) -> list[int]:
    """Thirty generateverifycode calls from ``source``, each claiming another client, each on
    its own connection; their HTTP statuses."""
    # The per-client budget counts in calendar minutes: start where the calls fit in one.
    wait_until(lambda: 60 - time.time() % 60 > 10, "a minute with 10 s left", bound_s=11)
    statuses = []
    for n in range(30):
        with Raw(url, source) as client:
            client.send(generate(phone(n), forged(n)))
            reply = client.reply()
        if reply.status == 200:
            assert reply.json()["retCode"] == "200"
        statuses.append(reply.status)
    return statuses


LIMITED = [200] * 20 + [429] * 10  # APPLYTRY_IP_PER_MINUTE's default is 20


@pytest.mark.parametrize("source", ["127.0.0.1", "127.0.0.2"])
def test_forged_forwarding_headers_do_not_evade_the_per_client_limit(serve, source):
    base = serve()
    assert thirty_forged_requests(base, source) == LIMITED


def test_a_trusted_proxy_gives_each_client_it_names_a_budget_of_its_own(serve):
    base = serve(trusted_proxies="127.0.0.1")
    assert thirty_forged_requests(base, "127.0.0.1") == [200] * 30


def test_a_peer_that_is_not_a_trusted_proxy_is_not_believed(serve):
    base = serve(trusted_proxies="127.0.0.1")
    assert thirty_forged_requests(base, "127.0.0.2") == LIMITED


def test_a_forged_first_forwarding_line_does_not_hide_the_proxys_last(serve):
    """A proxy that appends its own X-Forwarded-For line (HAProxy's option forwardfor) after
    the client's: the lines are one list, and the last hop is the proxy's word."""
    base = serve(trusted_proxies="127.0.0.1")
    wait_until(lambda: 60 - time.time() % 60 > 10, "a minute with 10 s left", bound_s=11)
    statuses = []
    for n in range(30):
        with Raw(base) as client:
            client.send(
                generate(phone(n), {"X-Forwarded-For": f"10.8.0.{n}"}).replace(
                    b"\r\n\r\n", b"\r\nX-Forwarded-For: 198.51.100.7\r\n\r\n", 1
                )
            )
            statuses.append(client.reply().status)
    assert statuses == LIMITED


def test_a_hop_written_with_a_port_is_its_address(serve):
    base = serve(trusted_proxies="127.0.0.1", ip_per_minute=2)
    wait_until(lambda: 60 - time.time() % 60 > 10, "a minute with 10 s left", bound_s=11)
    statuses = []
    for n, hop in enumerate(["203.0.113.50:1111", "203.0.113.50:2222", "[2001:db8::1]:80"]):
        with Raw(base) as client:
            client.send(generate(phone(n), {"X-Forwarded-For": hop}))
            statuses.append(client.reply().status)
    with Raw(base) as client:
        client.send(generate(phone(9), {"X-Forwarded-For": "203.0.113.50:3333"}))
        statuses.append(client.reply().status)
    # Two from one address, one from another, then the first address's third: refused.
    assert statuses == [200, 200, 200, 429]


# --- framing ------------------------------------------------------------------------------

# A second request hidden in the first one's body: whoever answers it has been smuggled to.
SMUGGLED = HEALTH_CHECK
CHUNKED_THEN_SMUGGLED = b"0\r\n\r\n" + SMUGGLED


START = f"POST {GENERATE} HTTP/1.1"


def post(*lines: str, body: bytes, version: str = "1.1") -> bytes:
    head = f"POST {GENERATE} HTTP/{version}\r\nHost: 127.0.0.1\r\n"
    return (head + "".join(line + "\r\n" for line in lines) + "\r\n").encode() + body


AMBIGUOUS = {
    "content-length-and-chunked": post(
        f"Content-Length: {len(CHUNKED_THEN_SMUGGLED)}",
        "Transfer-Encoding: chunked",
        body=CHUNKED_THEN_SMUGGLED,
    ),
    "chunked-and-content-length": post(
        "Transfer-Encoding: chunked", "Content-Length: 0", body=CHUNKED_THEN_SMUGGLED
    ),
    "two-content-lengths": post(
        "Content-Length: 0", f"Content-Length: {len(SMUGGLED)}", body=SMUGGLED
    ),
    "a-content-length-list": post(f"Content-Length: 0, {len(SMUGGLED)}", body=SMUGGLED),
    "a-signed-content-length": post("Content-Length: +0", body=SMUGGLED),
    "chunked-chunked": post("Transfer-Encoding: chunked, chunked", body=CHUNKED_THEN_SMUGGLED),
    "two-transfer-encodings": post(
        "Transfer-Encoding: chunked", "Transfer-Encoding: chunked", body=CHUNKED_THEN_SMUGGLED
    ),
    "xchunked": post("Transfer-Encoding: xchunked", body=CHUNKED_THEN_SMUGGLED),
    "identity": post("Transfer-Encoding: identity", body=CHUNKED_THEN_SMUGGLED),
    "transfer-encoding-on-http-1.0": post(
        "Transfer-Encoding: chunked", body=CHUNKED_THEN_SMUGGLED, version="1.0"
    ),
    "a-folded-transfer-encoding": post(
        "Transfer-Encoding:", " chunked", "Content-Length: 0", body=CHUNKED_THEN_SMUGGLED
    ),
    "a-folded-header": post("X-Note: one", "\ttwo", "Content-Length: 0", body=SMUGGLED),
    "a-space-before-the-colon": post("Transfer-Encoding : chunked", body=CHUNKED_THEN_SMUGGLED),
    "bare-lf-line-ends": f"{START}\nHost: 127.0.0.1\nContent-Length: 0\n\n".encode() + SMUGGLED,
    "one-bare-lf": f"{START}\r\nHost: 127.0.0.1\nContent-Length: 0\r\n\r\n".encode() + SMUGGLED,
    "a-bare-cr": post("X-Note: one\rtwo", "Content-Length: 0", body=SMUGGLED),
    "two-hosts": post("Host: elsewhere.example", "Content-Length: 0", body=SMUGGLED),
    "no-host": f"{START}\r\nContent-Length: 0\r\n\r\n".encode() + SMUGGLED,
    "a-chunk-size-ended-by-lf": post("Transfer-Encoding: chunked", body=b"0\n\r\n" + SMUGGLED),
    "trailers-ended-by-lf": post("Transfer-Encoding: chunked", body=b"0\r\n\n" + SMUGGLED),
    "a-folded-trailer": post(
        "Transfer-Encoding: chunked", body=b"0\r\nX-T: 1\n folded\r\n\r\n" + SMUGGLED
    ),
    "a-bare-lf-in-trailers": post(
        "Transfer-Encoding: chunked", body=b"0\r\nX-T: 1\nX-U: 2\r\n\r\n" + SMUGGLED
    ),
    "white-space-after-a-chunk-size": post(
        "Transfer-Encoding: chunked", body=b"1 \r\nA\r\n0\r\n\r\n" + SMUGGLED
    ),
    "a-bare-cr-in-a-chunk-extension": post(
        "Transfer-Encoding: chunked", body=b"1;a\rb\r\nA\r\n0\r\n\r\n" + SMUGGLED
    ),
    "http-2.0-without-a-host": f"GET {HEALTHZ} HTTP/2.0\r\n\r\n".encode() + SMUGGLED,
    "http-1.9": f"GET {HEALTHZ} HTTP/1.9\r\nHost: 127.0.0.1\r\n\r\n".encode() + SMUGGLED,
    "the-http-2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SMUGGLED,
}


@pytest.mark.parametrize("raw", AMBIGUOUS.values(), ids=AMBIGUOUS.keys())
def test_ambiguous_framing_is_refused_with_400_and_the_connection_closed(edge, raw):
    with Raw(edge) as client:
        client.send(raw)
        replies, closed = client.rest()

    assert closed
    [reply] = replies  # the smuggled request is never answered
    assert_problem(reply, 400)


def test_well_framed_pipelined_requests_are_both_answered(edge):
    """The control for the test above: a second request on the connection, when the first is
    framed right, is answered, a chunked body with extensions and trailers included."""
    chunked = post(
        "Transfer-Encoding: chunked",
        "Content-Type: application/json",
        body=b'5;x=1\r\n{"pho\r\n13\r\nne": "13800131234"}\r\n0\r\nX-T: 1\r\n\r\n',
    )
    with Raw(edge) as client:
        client.send(HEALTH_CHECK + chunked + HEALTH_CHECK)
        replies = [client.reply() for _ in range(3)]
    assert [reply.status for reply in replies] == [200, 200, 200]
    assert replies[1].json()["retCode"] == "200"


def test_an_h2c_upgrade_offer_keeps_its_body(edge):
    """Java's HttpClient and `curl --http2` offer an h2c upgrade on plain HTTP."""
    upgrade = {
        "Connection": "Upgrade, HTTP2-Settings",
        "Upgrade": "h2c",
        "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA",
    }
    with Raw(edge) as client:
        client.send(generate(phone(1), upgrade))
        reply = client.reply()
    assert reply.status == 200
    assert reply.json()["retCode"] == "200"


# --- slow clients -------------------------------------------------------------------------


def test_a_request_whose_head_never_ends_gets_408_and_is_closed(edge):
    with Raw(edge) as client:
        started = time.monotonic()
        client.send(f"POST {GENERATE} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        replies, closed = client.rest()
        elapsed = time.monotonic() - started

    assert closed  # within WAIT_S: the upper bound, which a busy machine may stretch
    [reply] = replies
    assert_problem(reply, 408)
    assert elapsed > TIMEOUT_S * 0.8  # not cut off before its time
    # The spec's example, written for the default of 10 s, with this service's limit.
    example = SPEC["components"]["responses"]["RequestTimeout"]["content"]
    expected = example["application/problem+json"]["example"]
    assert reply.json() == {
        **expected,
        "detail": expected["detail"].replace("10", f"{TIMEOUT_S:g}"),
    }


def test_a_body_trickled_a_byte_at_a_time_is_cut_off(edge):
    body = json.dumps({"phone": phone(2)}).encode().ljust(60)  # 6 s at the pace below
    with Raw(edge) as client:
        client.send(request("POST", GENERATE, body=body)[: -len(body)])
        sent = 0
        while sent < len(body) - 1 and not client.readable(0.1):
            client.send(body[sent : sent + 1])
            sent += 1
        replies, closed = client.rest()

    assert closed and sent < len(body) - 1  # cut off before the last byte was trickled
    [reply] = replies
    assert_problem(reply, 408)


def test_a_connection_that_sends_nothing_is_closed(edge):
    with Raw(edge) as client:
        started = time.monotonic()
        replies, closed = client.rest()
        elapsed = time.monotonic() - started

    assert closed and replies == []  # nothing was asked: nothing to answer
    assert elapsed > TIMEOUT_S * 0.8  # not closed before its time


def test_the_time_limit_is_per_request_not_per_connection(edge):
    """Three requests on one connection, each sent in two pieces, spanning more than the
    limit in all: every one is answered."""
    with Raw(edge) as client:
        started = time.monotonic()
        for _ in range(3):
            client.send(HEALTH_CHECK[:10])
            assert not client.readable(TIMEOUT_S * 0.4)  # nothing yet, and still open
            client.send(HEALTH_CHECK[10:])
            assert client.reply().status == 200
            assert not client.readable(TIMEOUT_S * 0.3)
        assert time.monotonic() - started > TIMEOUT_S * 2


# --- a flood of slow connections ----------------------------------------------------------


def test_a_flood_of_slow_connections_does_not_lock_out_ordinary_requests(serve):
    bound, flood_size, every = 100, 300, 10
    # A long time limit: what must save the ordinary requests here is the bound alone.
    base = serve(max_connections=bound, request_timeout_s=60)
    host, port = base.removeprefix("http://").split(":")
    partial = f"POST {GENERATE} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    flood: list[socket.socket] = []
    answered = []
    started = time.monotonic()
    try:
        for n in range(flood_size):
            sock = socket.create_connection((host, int(port)), timeout=WAIT_S)
            flood.append(sock)
            sock.sendall(partial)
            if n % every == every - 1:
                with Raw(base) as client:
                    client.send(HEALTH_CHECK)
                    answered.append(client.reply().status)

        # The server keeps at most `bound` connections: the oldest slow ones went first.
        received = [b""] * flood_size
        closed = [False] * flood_size
        with selectors.DefaultSelector() as selector:
            for index, sock in enumerate(flood):
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ, index)
            deadline = time.monotonic() + WAIT_S
            while sum(closed) < flood_size - bound and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=0.1):
                    try:
                        chunk = key.fileobj.recv(65536)
                    except ConnectionResetError:
                        chunk = b""
                    if chunk:
                        received[key.data] += chunk
                    else:
                        closed[key.data] = True
                        selector.unregister(key.fileobj)
        elapsed = time.monotonic() - started
    finally:
        for sock in flood:
            sock.close()

    print(
        f"flood: {flood_size} slow connections, {len(answered)} ordinary requests, "
        f"{answered.count(200)} answered 200, {sum(closed)} slow ones closed, {elapsed:.2f} s"
    )
    assert answered == [200] * (flood_size // every)
    evicted = sum(closed)
    assert flood_size - bound <= evicted <= flood_size - bound + flood_size // every
    assert closed == [True] * evicted + [False] * (flood_size - evicted), "oldest first"
    for data in received[:evicted]:
        [reply] = replies_in(data)
        assert_problem(reply, 408)


def test_a_websocket_offer_is_an_ordinary_request_and_cannot_hold_a_connection(edge):
    """No WebSocket here: an upgrade offer is answered by the app like any request, so it
    cannot take a connection out of reach of the time limit and the bound."""
    offer = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    with Raw(edge) as client:
        client.send(request("GET", HEALTHZ, headers=offer))
        reply = client.reply()
    assert reply.status == 200 and reply.json() == {"status": "ok"}
    with Raw(edge) as client:
        client.send(generate(phone(77), {"Connection": "Upgrade", "Upgrade": "websocket"}))
        assert client.reply().json()["retCode"] == "200"


def closed_by_server(sock: socket.socket) -> bool:
    """Reads what has arrived, without waiting: True once the server has closed or reset."""
    sock.setblocking(False)
    try:
        while chunk := sock.recv(1 << 20):
            del chunk
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def test_clients_that_never_read_their_answers_do_not_lock_out_others(serve, tmp_path):
    """Pipelined requests whose answers are never read fill the socket's buffers, and the
    connection waits on the client; such connections get the time limit and make room."""
    bound = 50
    base = serve(max_connections=bound, request_timeout_s=TIMEOUT_S)
    host, port = base.removeprefix("http://").split(":")
    # Eight copies of the documentation page's script, some 11 MB: more than loopback buffers.
    script = request("GET", "/apiaccess/rest/ipccprovision/v1/ui/swagger-ui-bundle.js") * 8
    stalled: list[socket.socket] = []
    try:
        for _ in range(bound):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(WAIT_S)
            sock.connect((host, int(port)))
            sock.sendall(script)
            stalled.append(sock)

        def an_ordinary_request_is_answered() -> bool:
            try:
                with Raw(base) as client:
                    client.send(HEALTH_CHECK)
                    return client.reply().status == 200
            except OSError:
                return False
            except AssertionError:
                # Closed without a word: the worker is full and every connection still has a
                # request in hand (it is writing their answers), so it refuses the newcomer.
                # Once the answers wait on their clients, they are what makes room.
                return False

        # Before, the worker stayed full, refusing everyone, for as long as they pleased.
        wait_until(an_ordinary_request_is_answered, "an ordinary request answered", TIMEOUT_S + 3)

        def reset_by_the_server() -> int:
            log = "".join(path.read_text() for path in tmp_path.glob("server-*.log"))
            return log.count("reset a connection whose client reads none")

        wait_until(lambda: reset_by_the_server() == bound, "each one reset", TIMEOUT_S + 5)
    finally:
        for sock in stalled:
            sock.close()


# --- stopping -----------------------------------------------------------------------------


def test_sigterm_lets_a_request_in_flight_finish(tmp_path, database_url):
    settings = {
        "database_url": database_url,
        "secret": SECRET,
        "sms_outbox": tmp_path / "outbox" / "sms.jsonl",
    }
    process = ServiceProcess(tmp_path, settings=settings).start()
    body = json.dumps({"phone": phone(3)}).encode()
    try:
        with Raw(process.url) as client:
            client.send(request("POST", GENERATE, {"Expect": "100-continue"}, body)[: -len(body)])
            # 100 Continue: the app is reading the body, so the request is in flight.
            assert client.reply().status == 100
            process.process.send_signal(signal.SIGTERM)
            wait_until(lambda: refuses(process.port), "the listening socket closed")
            client.send(body)
            reply = client.reply()
            assert reply.status == 200 and reply.json()["retCode"] == "200"
            assert client.rest()[1]
        # uvicorn exits by raising the signal again once it has stopped.
        assert process.process.wait(timeout=WAIT_S * 2) in (0, -signal.SIGTERM)
        assert "Application shutdown complete." in process.log()
    finally:
        process.stop()


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# --- settings -----------------------------------------------------------------------------


def test_the_edge_settings_default_and_are_checked_at_start_up():
    settings = Settings.from_env({})
    assert (settings.request_timeout_s, settings.max_connections) == (10, 1000)
    assert Settings.from_env({"APPLYTRY_REQUEST_TIMEOUT_S": "300"}).request_timeout_s == 300
    for timeout, connections in (("0", "0"), ("301", "-5"), ("soon", "many")):
        with pytest.raises(ConfigError) as refused:
            Settings.from_env(
                {"APPLYTRY_REQUEST_TIMEOUT_S": timeout, "APPLYTRY_MAX_CONNECTIONS": connections}
            )
        assert "APPLYTRY_REQUEST_TIMEOUT_S" in str(refused.value)
        assert "APPLYTRY_MAX_CONNECTIONS" in str(refused.value)


def _open_files(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def test_serve_refuses_a_bound_the_open_file_limit_cannot_hold(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "applytry.cli", "serve", "--port", "1"],
        cwd=tmp_path,
        env={**os.environ, "APPLYTRY_MAX_CONNECTIONS": "1000"},
        preexec_fn=_open_files(1024),
        capture_output=True,
        text=True,
        timeout=WAIT_S * 2,
    )
    assert result.returncode == 2
    assert "APPLYTRY_MAX_CONNECTIONS" in result.stderr and "1024" in result.stderr


def test_serve_raises_its_open_file_limit_to_the_hard_limit(tmp_path, database_url):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 2048:
        pytest.skip(f"the hard open-file limit here is {hard}")
    settings = {"database_url": database_url, "secret": SECRET}
    process = ServiceProcess(tmp_path, settings=settings)
    # The service inherits a low soft limit, as from a default `ulimit -n`.
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        process.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        limits = Path(f"/proc/{process.process.pid}/limits").read_text()
        [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
        assert line.split()[3:5] == [str(hard), str(hard)]
    finally:
        process.stop()
