"""A TCP proxy on loopback that puts a network's distance between a client and a server.

    python bench/delay_proxy.py --listen 0 --target 127.0.0.1:5432 --rtt-ms 1.0

prints the port it bound on one line, then forwards every connection to the target, holding
each chunk, in each direction, for half the round trip: a request and its answer cost
``rtt_ms`` more than on loopback. Each direction is a queue of chunks with the time each may
leave, so chunks keep their order and many in flight are held at once: throughput is not
limited to one chunk a round trip, as a sleep before each write would limit it.

It takes at most 480 connections, stops on SIGTERM or SIGINT, and on SIGUSR1 prints how many
chunks its clients have sent so far. ``DelayProxy`` runs it as a child process, so that its
CPU is its own and can be measured apart from the servers'.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import selectors
import signal
import subprocess
import sys
from pathlib import Path

from applytry.testing import stop_process

# select(2) sleeps to the microsecond where epoll(7) and poll(2) round a wait up to the next
# millisecond, which would turn a 0.5 ms hold into 1 ms; select only watches descriptors
# below 1024, two a connection, hence the limit.
MAX_CONNECTIONS = 480
# Chunks held per direction before reading stops: a sender faster than the link waits, as
# it would behind a real one, instead of filling this process's memory.
HELD_CHUNKS = 256


class Hold:
    """How long a chunk is held, and how early to wake for it.

    A timer fires late, by the kernel's timer slack and the wait for a core (about 0.15 ms a
    hold on a busy 2-core machine), which would add a third to a 1 ms round trip. Each timer
    reports how late it fired and the next ones are set that much earlier, so that chunks
    leave on time on average. Never earlier than half the hold: a proxy starved of CPU holds
    too long rather than not at all.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.early = 0.0

    def woke(self, late: float) -> None:
        # A moving average of the timers' own lateness, whatever the current estimate: it
        # cannot ratchet. A small step: one preempted wake moves it little.
        self.early = min(max(0.0, self.early + (late - self.early) / 16), self.seconds / 2)


class _Side(asyncio.Protocol):
    """One of a proxied pair of connections: what it receives leaves through its peer once
    held. Protocol callbacks and one timer a direction, rather than a task and a queue, keep
    the proxy's own CPU a request small: on a shared machine it is taken from the servers."""

    def __init__(self, hold: Hold, on_lost, tally: list[int] | None = None):
        self.hold = hold
        self.tally = tally  # chunks received, counted on the clients' side only
        self.on_lost = on_lost
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.held: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.stopped: set[str] = set()  # why reading is paused: "held", "peer"
        self.refused = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        if self.refused:
            transport.close()  # the client sees its connection close, as at a full server

    def data_received(self, data: bytes) -> None:
        if self.tally is not None:
            self.tally[0] += 1
        self._keep(data)
        if len(self.held) >= HELD_CHUNKS:
            self._stop_reading("held")

    def eof_received(self) -> None:
        self._keep(None)  # the end, held like the data; then the peer is closed

    def connection_lost(self, exc) -> None:
        if not self.held or self.held[-1][1] is not None:
            self._keep(None)  # a reset ends this direction as an end does
        self.on_lost(self)

    def pause_writing(self) -> None:
        if self.peer:
            self.peer._stop_reading("peer")  # the peer is what fills this side's buffer

    def resume_writing(self) -> None:
        if self.peer:
            self.peer._go_on_reading("peer")

    def _keep(self, data: bytes | None) -> None:
        self.held.append((self.loop.time() + self.hold.seconds, data))
        if self.timer is None and self.peer is not None:
            self._leave(timed=False)

    def _leave(self, timed: bool) -> None:
        """Sends what is due, then sets the timer for the next chunk."""
        self.timer = None
        now = self.loop.time()
        if timed:
            self.hold.woke(now - self.timer_at)
        due = []
        while self.held and self.held[0][0] - self.hold.early <= now:
            data = self.held.popleft()[1]
            if data is None:
                if due:
                    self.peer.transport.write(b"".join(due))
                self.held.clear()
                self.peer.transport.close()  # after what it has buffered
                return
            due.append(data)
        if due:
            self.peer.transport.write(b"".join(due))
        if self.held:
            self.timer_at = self.held[0][0] - self.hold.early
            self.timer = self.loop.call_at(self.timer_at, self._leave, True)
        if len(self.held) < HELD_CHUNKS // 2:
            self._go_on_reading("held")

    def start(self, peer: _Side) -> None:
        """The pair is connected: what was received meanwhile may leave."""
        self.peer = peer
        if self.held and self.timer is None:
            self._leave(timed=False)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.close()

    def _stop_reading(self, why: str) -> None:
        if not self.stopped and self.transport and not self.transport.is_closing():
            self.transport.pause_reading()
        self.stopped.add(why)

    def _go_on_reading(self, why: str) -> None:
        if why in self.stopped:
            self.stopped.discard(why)
            if not self.stopped and self.transport and not self.transport.is_closing():
                self.transport.resume_reading()


class _Proxy:
    def __init__(self, target: tuple[str, int], rtt_ms: float, max_connections: int):
        self.target = target
        self.hold = Hold(rtt_ms / 2000)
        self.max_connections = max_connections
        self.sides: set[_Side] = set()
        self.connecting: set[asyncio.Task] = set()
        # Chunks from the clients: with a client that waits for each answer, as psycopg2
        # does, one a statement, so the round trips a request costs can be counted.
        self.tally = [0]

    def accept(self) -> _Side:
        client = _Side(self.hold, self._lost, self.tally)
        if len(self.sides) >= 2 * self.max_connections:
            client.refused = True
        else:
            self.sides.add(client)
            # The loop keeps only a weak reference to a task: this set keeps it running.
            task = asyncio.ensure_future(self._connect(client))
            self.connecting.add(task)
            task.add_done_callback(self.connecting.discard)
        return client

    async def _connect(self, client: _Side) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, server = await loop.create_connection(
                lambda: _Side(self.hold, self._lost), *self.target
            )
        except OSError:
            self._lost(client)  # the target refused: the client sees its connection close
            return
        if client not in self.sides:
            server.close()  # the client left while the target was being reached
            return
        self.sides.add(server)
        server.start(client)
        client.start(server)

    def _lost(self, side: _Side) -> None:
        """A connection ended: its peer ends once what is held for it has left (the end was
        queued behind the data)."""
        if side in self.sides:
            self.sides.discard(side)
            if side.peer is None or side.peer not in self.sides:
                side.close()

    def close(self) -> None:
        for side in list(self.sides):
            side.close()


async def serve(listen: int, target: tuple[str, int], rtt_ms: float, max_connections: int):
    proxy = _Proxy(target, rtt_ms, max_connections)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(proxy.accept, "127.0.0.1", listen)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Asked, it says on one line how many chunks the clients have sent so far.
    loop.add_signal_handler(signal.SIGUSR1, lambda: print(proxy.tally[0], flush=True))
    async with server:
        await stop.wait()
        proxy.close()


def _address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        raise argparse.ArgumentTypeError("the target must be on loopback")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--target", type=_address, default=("127.0.0.1", 5432))
    parser.add_argument("--rtt-ms", type=float, required=True, help="round trip added")
    parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS)
    args = parser.parse_args()
    if not 0 <= args.rtt_ms <= 1000 or not 0 < args.max_connections <= MAX_CONNECTIONS:
        parser.error(f"--rtt-ms within 0..1000, --max-connections within 1..{MAX_CONNECTIONS}")
    with asyncio.Runner(
        loop_factory=lambda: asyncio.SelectorEventLoop(selectors.SelectSelector())
    ) as runner:
        runner.run(serve(args.listen, args.target, args.rtt_ms, args.max_connections))


class DelayProxy:
    """The proxy as a child process: ``port`` once started, ``pid`` for its CPU."""

    def __init__(self, target: str, rtt_ms: float):
        self.target, self.rtt_ms = target, rtt_ms
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    def start(self, timeout_s: float = 10) -> DelayProxy:
        command = [sys.executable, str(Path(__file__).resolve()), "--listen", "0"]
        command += ["--target", self.target, "--rtt-ms", str(self.rtt_ms)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            # The first line is the port; a proxy that cannot start ends without one.
            line = _first_line(self.process, timeout_s)
            self.port = int(line)
        except (ValueError, TimeoutError):
            self.stop()
            raise RuntimeError("the delay proxy did not start") from None
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def chunks(self, timeout_s: float = 5) -> int:
        """Chunks the clients have sent through the proxy so far, as the proxy read them: on
        the 200 path fewer than the statements counted in-process (README, "At a distance")."""
        self.process.send_signal(signal.SIGUSR1)
        return int(_first_line(self.process, timeout_s))

    def stop(self, timeout_s: float = 10) -> None:
        stop_process(self.process, timeout_s)

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def _first_line(process: subprocess.Popen, timeout_s: float) -> str:
    """The child's first line of output, waiting at most ``timeout_s``."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        if not selector.select(timeout_s):
            raise TimeoutError
        return process.stdout.readline()
    finally:
        selector.close()


if __name__ == "__main__":
    main()
