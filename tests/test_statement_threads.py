"""PostgreSQL statements in a bounded pool of threads (applytry.db.threads), seen from outside.

Real ``applytry serve`` processes, watched through PostgreSQL's own ``pg_stat_activity`` from a
session of the test's: a burst never opens more than workers × (APPLYTRY_DB_POOL_SIZE + 2)
sessions, yet each worker runs several at once; sessions killed by an operator, idle or in the
middle of a burst, cost no request a 500; a stopped server leaves no session behind; and a
database that cannot be reached is a 500 problem and not ready at ``/readyz``, then served
again by itself once it is back.

Each server connects with an ``application_name`` of its own (in the database URL), so that
its sessions are told from any other test's and from the test's own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from applytry.testing import LOOSE_LIMITS
from conftest import BACKEND, GENERATE, POSTGRES_ADMIN, postgres_session, wait_until

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(
        BACKEND != "postgresql",
        reason="PostgreSQL only: its sessions (APPLYTRY_TEST_DATABASE=postgresql)",
    ),
]

BASE = "/apiaccess/rest/ipccprovision/v1"
WORKERS = 2
POOL = 3
BOUND = WORKERS * (POOL + 1)  # README: "at most workers × (this + 1) connections"
RET_CODES = {"200", "201", "202", "204", "205"}  # openapi.yaml: generateverifycode's retCode
LOST = "database connection lost, once more on another"
BURST_BOUND_S = 45  # a burst that takes longer is a hang, not a slow machine


# --- the server's sessions, as PostgreSQL shows them --------------------------------------


def _named(database_url: str, name: str) -> str:
    return f"{database_url}?application_name={name}"


@pytest.fixture
def watched(serve, database_url):
    """Starts one server whose sessions carry an application_name of their own; yields
    ``start`` and a session of the test's on the same database to watch them from."""
    watcher = postgres_session(database_url)
    name = f"applytry-test-{uuid.uuid4().hex[:12]}"

    def start(workers: int = WORKERS, url: str | None = None, **overrides) -> str:
        target = _named(url or database_url, name)
        return serve(workers=workers, database_url=target, db_pool_size=POOL, **overrides)

    start.name = name
    start.watcher = watcher
    start.stop_all = serve.stop_all
    yield start
    watcher.close()


def sessions(watcher, name: str) -> list[tuple[int, int | None]]:
    """(backend pid, client port) of each session named ``name``."""
    with watcher.cursor() as cursor:
        cursor.execute(
            "SELECT pid, client_port FROM pg_stat_activity WHERE application_name = %s", (name,)
        )
        return cursor.fetchall()


def terminate(watcher, name: str, at_work: bool = False) -> list[str]:
    """Kills every session named ``name``, as an operator would (``at_work``: only if one of
    them is running a statement or in a transaction, else none); what each was doing then
    (``idle``, ``active``, ``idle in transaction``)."""
    only_at_work = (
        " AND EXISTS (SELECT FROM pg_stat_activity"
        " WHERE application_name = %(name)s AND state <> 'idle')"
    )
    with watcher.cursor() as cursor:
        cursor.execute(
            "SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %(name)s" + (only_at_work if at_work else ""),
            {"name": name},
        )
        return [state for state, _ in cursor.fetchall()]


# --- which worker holds which session: the server's sockets in /proc ----------------------


def _tcp_table() -> list[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) of every TCP socket of this network namespace."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local, remote = fields[1], fields[2]
                rows.append(
                    (
                        int(local.rsplit(":", 1)[1], 16),
                        int(remote.rsplit(":", 1)[1], 16),
                        fields[3],
                        int(fields[9]),
                    )
                )
    return rows


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def server_pids(url: str) -> tuple[int, list[int]]:
    """The supervisor and the workers of the server at ``url``: the processes that hold its
    listening socket; the workers are those whose parent holds it too."""
    port = urlsplit(url).port
    listening = {
        inode for local, _, state, inode in _tcp_table() if local == port and state == "0A"
    }
    holders = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _socket_inodes(int(entry)) & listening:
            holders.add(int(entry))
    workers = sorted(pid for pid in holders if _parent(pid) in holders)
    [supervisor] = holders - set(workers)
    return supervisor, workers


def database_ports(pids: list[int]) -> dict[int, int]:
    """Local port -> pid, for each process's connections to PostgreSQL."""
    postgres_port = urlsplit(POSTGRES_ADMIN).port or 5432
    by_inode = {inode: local for local, remote, _, inode in _tcp_table() if remote == postgres_port}
    return {
        by_inode[inode]: pid for pid in pids for inode in _socket_inodes(pid) if inode in by_inode
    }


# --- requests ------------------------------------------------------------------------------


def numbers(first: int, count: int) -> list[str]:
    return [f"139{n:08d}" for n in range(first, first + count)]


async def _burst(base: str, phones: list[str], answered: list[int]) -> list[httpx.Response]:
    """One request per phone, all at once, each on a connection of its own; ``answered[0]``
    counts the answers as they come."""
    limits = httpx.Limits(max_connections=len(phones) + 1, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        start = asyncio.Event()

        async def one(phone: str) -> httpx.Response:
            await start.wait()
            response = await client.post(GENERATE, json={"phone": phone})
            answered[0] += 1
            return response

        tasks = [asyncio.create_task(one(phone)) for phone in phones]
        await asyncio.sleep(0.05)
        start.set()
        return await asyncio.wait_for(asyncio.gather(*tasks), BURST_BOUND_S)


def burst(base: str, phones: list[str], answered: list[int] | None = None) -> list[httpx.Response]:
    return asyncio.run(_burst(base, phones, [0] if answered is None else answered))


def outcomes(responses: list[httpx.Response]) -> collections.Counter:
    """Each answer as "HTTP status/retCode" (or status/the start of the body), counted."""
    found = collections.Counter()
    for response in responses:
        if response.status_code == 200:
            found[f"200/{response.json()['retCode']}"] += 1
        else:
            found[f"{response.status_code}/{response.text[:120]}"] += 1
    return found


class Sampler(threading.Thread):
    """Samples ``sample()`` every few milliseconds until stopped (at most for a bound)."""

    def __init__(self, sample, every_s: float = 0.005, bound_s: float = BURST_BOUND_S + 5):
        super().__init__(daemon=True)
        self.sample, self.every_s, self.bound_s = sample, every_s, bound_s
        self.samples: list = []
        self.stopped = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.bound_s
        try:
            while not self.stopped.is_set() and time.monotonic() < deadline:
                self.samples.append(self.sample())
                self.stopped.wait(self.every_s)
        except BaseException as exc:  # raised on leaving, in the test's thread
            self.failure = exc

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopped.set()
        self.join(10)
        if self.failure is not None:
            raise self.failure


def log_lines(tmp_path: Path) -> list[dict]:
    """The JSON lines of every server log of this test."""
    lines = []
    for path in sorted(tmp_path.glob("server-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
    return lines


def lost_warnings(tmp_path: Path) -> int:
    return sum(LOST in line["msg"] for line in log_lines(tmp_path))


# --- a way to PostgreSQL that can be cut ----------------------------------------------------


class Forwarder:
    """A TCP forwarder on loopback to PostgreSQL that can be cut and restored on the same
    port: cut, every connection through it is closed and each new one is closed as soon as it
    is accepted, as a database out of reach looks to a client; restored, it forwards again.
    The listening socket is kept meanwhile, so that no other process can take its port."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.reachable = True
        self.open: set[socket.socket] = set()
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self.lock:
                reachable = self.reachable
            if not reachable:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.open |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """One direction; its end ends both. Each socket is closed by the pump reading it."""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for side in (source, sink):
                with contextlib.suppress(OSError):
                    side.shutdown(socket.SHUT_RDWR)
            with self.lock:
                self.open.discard(source)
            source.close()

    def cut(self) -> None:
        with self.lock:
            self.reachable = False
            connections = list(self.open)
        for connection in connections:  # wakes both pumps, which close the pair
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        with self.lock:
            self.reachable = True

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(), which close() does not
        self.listener.close()
        self.accepting.join(5)


@pytest.fixture
def forwarder():
    parts = urlsplit(POSTGRES_ADMIN)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("the forwarder only reaches a PostgreSQL on loopback")
    started = Forwarder(parts.hostname, parts.port or 5432)
    yield started
    started.close()


def through(database_url: str, port: int) -> str:
    """``database_url`` reached on loopback at ``port`` instead."""
    parts = urlsplit(database_url)
    user = parts.netloc.rpartition("@")[0]
    return parts._replace(netloc=(user + "@" if user else "") + f"127.0.0.1:{port}").geturl()


# --- 1. the bound ---------------------------------------------------------------------------


def test_a_burst_stays_within_the_bound_and_overlaps_in_every_worker(watched):
    base = watched(**LOOSE_LIMITS)
    supervisor, workers = server_pids(base)
    assert len(workers) == WORKERS, workers
    processes = [supervisor, *workers]

    def sample() -> tuple[int, collections.Counter]:
        found = sessions(watched.watcher, watched.name)
        owners = database_ports(processes)
        return len(found), collections.Counter(owners.get(port) for _, port in found)

    with Sampler(sample) as sampler:
        responses = burst(base, numbers(0, 150))
        during = len(sampler.samples)
    after = sample()

    assert outcomes(responses) == {"200/200": 150}
    assert during >= 3, f"only {during} samples of the sessions during the burst"
    most = max(total for total, _ in [*sampler.samples, after])
    assert most <= BOUND, f"{most} sessions, more than {WORKERS} × ({POOL} + 1)"
    # Every session named so is one of this server's processes'.
    assert None not in after[1], after
    # Each worker's sessions: at most one of its event loop's, so at least two of the pool's
    # threads had a statement to run at once.
    per_worker = {pid: max(owners[pid] for _, owners in sampler.samples) for pid in workers}
    assert all(count >= 3 for count in per_worker.values()), per_worker


# --- 2. killed sessions -----------------------------------------------------------------------


def test_sessions_killed_while_idle_cost_no_request_an_error(watched, tmp_path):
    base = watched(**LOOSE_LIMITS)
    first = numbers(1000, 30)
    assert outcomes(burst(base, first)) == {"200/200": 30}
    before = {pid for pid, _ in sessions(watched.watcher, watched.name)}
    states = terminate(watched.watcher, watched.name)
    killed = len(states)
    assert killed > WORKERS, f"only {killed} sessions to kill"
    assert set(states) == {"idle"}, states
    # The killed ones, not every one: the service's own timers (settings reread, jobs) may
    # open a new session meanwhile, as they should.
    wait_until(
        lambda: not before & {pid for pid, _ in sessions(watched.watcher, watched.name)},
        "the killed sessions gone",
        5,
    )

    # Half of them asked again within the resend interval (201), half new (200).
    responses = burst(base, first[:15] + numbers(2000, 15))

    assert [r.status_code for r in responses] == [200] * 30, outcomes(responses)
    assert [r.json()["retCode"] for r in responses] == ["201"] * 15 + ["200"] * 15
    warnings = lost_warnings(tmp_path)
    assert 1 <= warnings <= killed, f"{warnings} reconnection warnings for {killed} sessions"


def test_sessions_killed_in_the_middle_of_a_burst_cost_no_request_an_error(watched, tmp_path):
    base = watched(**LOOSE_LIMITS)
    assert outcomes(burst(base, numbers(5000, 10))) == {"200/200": 10}
    phones = numbers(6000, 150)
    answered = [0]
    kills: list[tuple[int, list[str]]] = []  # (requests answered, states of the killed)

    def killer() -> None:
        """Once a sixth of the burst is answered, kills every session of the server as soon
        as one of them is found at work (a statement or a transaction in flight); past a
        third, whatever they are doing: a statement takes a fraction of a millisecond, and a
        busy machine may not look at the right moment, but the burst is still in flight."""
        deadline = time.monotonic() + BURST_BOUND_S
        while answered[0] < len(phones) // 6 and time.monotonic() < deadline:
            time.sleep(0.001)
        while answered[0] < len(phones) and time.monotonic() < deadline:
            at_work = answered[0] < len(phones) // 3
            if states := terminate(watched.watcher, watched.name, at_work=at_work):
                kills.append((answered[0], states))
                return
            time.sleep(0.001)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    responses = burst(base, phones, answered)
    thread.join(10)

    [(done, states)] = kills
    assert done < len(phones), kills
    found = outcomes(responses)
    assert all(r.status_code == 200 for r in responses), found
    assert {r.json()["retCode"] for r in responses} <= RET_CODES, found
    warnings = lost_warnings(tmp_path)
    assert 1 <= warnings <= len(states), f"{warnings} reconnection warnings for {states}"
    assert "unexpected failure" not in {line["msg"] for line in log_lines(tmp_path)}


# --- 3. shutdown ------------------------------------------------------------------------------


def test_a_stopped_server_leaves_no_session_behind(watched, tmp_path):
    base = watched(**LOOSE_LIMITS)
    assert outcomes(burst(base, numbers(3000, 40))) == {"200/200": 40}
    assert len(sessions(watched.watcher, watched.name)) > WORKERS

    started = time.monotonic()
    watched.stop_all()
    took = time.monotonic() - started

    wait_until(lambda: not sessions(watched.watcher, watched.name), "no session left", 5)
    # An idle server stops at once: no thread waited out Statements.close's barrier (5 s).
    assert took < 4, f"the stop took {took:.1f} s"
    errors = [line for line in log_lines(tmp_path) if line.get("level") == "ERROR"]
    assert errors == []


# --- 4. a database out of reach ------------------------------------------------------------


def test_a_database_out_of_reach_is_not_ready_and_a_500_then_served_again(
    watched, database_url, forwarder, tmp_path
):
    base = watched(workers=1, url=through(database_url, forwarder.port), **LOOSE_LIMITS)
    with httpx.Client(base_url=base, timeout=10) as http:
        assert outcomes([http.post(GENERATE, json={"phone": "13900004000"})]) == {"200/200": 1}
        assert http.get(BASE + "/readyz").status_code == 200
        assert sessions(watched.watcher, watched.name)

        forwarder.cut()
        wait_until(lambda: not sessions(watched.watcher, watched.name), "the sessions cut", 5)
        for phone in numbers(4001, 5):
            reply = http.post(GENERATE, json={"phone": phone})
            assert reply.status_code == 500, reply.text
            assert reply.headers["content-type"] == "application/problem+json"
            assert reply.json()["status"] == 500
        ready = http.get(BASE + "/readyz")
        assert ready.status_code == 503, ready.text
        assert "database unreachable" in ready.json()["detail"], ready.text

        forwarder.restore()
        wait_until(lambda: http.get(BASE + "/readyz").status_code == 200, "ready again", 15, 0.2)
        replies = [http.post(GENERATE, json={"phone": phone}) for phone in numbers(4101, 5)]
        assert outcomes(replies) == {"200/200": 5}
    assert "unexpected failure" not in {line["msg"] for line in log_lines(tmp_path)}


def test_a_serve_that_may_open_more_sessions_than_postgresql_allows_says_so(serve, tmp_path):
    """Two workers at the largest pool may open 130 sessions, more than PostgreSQL's default
    100: requests would answer 500 ("too many clients") under load, so the start says so."""
    admin = postgres_session(POSTGRES_ADMIN)
    with contextlib.closing(admin), admin.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        allowed = int(cursor.fetchone()[0])
    if allowed >= WORKERS * 65:
        pytest.skip(f"max_connections {allowed} leaves room for the largest pool")
    small = max(1, allowed // (2 * WORKERS) - 1)
    serve(workers=WORKERS, db_pool_size=small)
    serve(workers=WORKERS, db_pool_size=64)

    warned = [line["msg"] for line in log_lines(tmp_path) if "sessions at most" in line["msg"]]
    assert len(warned) == 1 and f"= {WORKERS * 65} sessions" in warned[0], warned
