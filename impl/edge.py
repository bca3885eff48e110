"""The HTTP edge: what a client can do to a connection before the app sees a request.

``applytry serve`` runs uvicorn's h11 protocol with these changes:

- **Time.** A request's head and body must arrive within ``APPLYTRY_REQUEST_TIMEOUT_S`` of its
  first byte, or of the connection's opening; otherwise the connection is closed, after a 408 if
  the client had begun a request and no response has. Without this, a client that never
  finishes a request holds a connection, and a file descriptor, for as long as it likes.
  Between requests uvicorn's own keep-alive timer (5 s) closes an idle connection, as before.
- **Room.** A worker holds at most ``APPLYTRY_MAX_CONNECTIONS`` connections. One more, and the
  connection that has waited longest for a complete request is closed, not the new one: a
  flood of slow connections then only displaces itself, while an ordinary request, whole in
  milliseconds, still gets in.
- **Framing.** A request that two parsers could frame differently is refused with 400 and the
  connection closed (RFC 9112 sections 2.2, 3.2, 5.2 and 6.1), besides everything h11 refuses
  itself: behind a proxy that read it otherwise, what the proxy took for a body would be a
  second request here, one the proxy never checked (request smuggling).
- **Replies.** The 400s and 408s written here are problems (RFC 9457) like the app's.

No forwarding header is looked at here; ``applytry.clients`` decides whom to believe.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import re
from collections.abc import Callable

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from applytry import messages, problems
from applytry.config import Settings

log = logging.getLogger(__name__)

# Where h11 ends a request head: at the first empty line, however its lines end.
_END_OF_HEAD = re.compile(rb"\n\r?\n")


def _head_fault(received: bytes) -> str | None:
    """What h11 would let pass in the request head that ``received`` starts with; None when
    nothing, or while the head is not whole (h11 bounds how long it may grow). Read as bytes,
    in one pass: h11 refuses spaces before a colon, so ``\nname:`` finds each header."""
    end = _END_OF_HEAD.search(received)
    if end is None:
        return None
    head = received[: end.end()].lower()
    line_ends = head.count(b"\r\n")
    if head.count(b"\n") != line_ends or head.count(b"\r") != line_ends:
        # h11 ends a line at a bare LF; a proxy may not, and see other headers than we do.
        return "every line of the request head must end with CRLF"
    if b"\n " in head or b"\n\t" in head:
        # h11 joins a folded line to the one before; a proxy may take it for a header.
        return "header lines must not be folded"
    if b"\ntransfer-encoding:" in head:
        if b"\ncontent-length:" in head:
            # h11 goes by Transfer-Encoding; a proxy going by Content-Length would pass the
            # rest of the body on as the next request.
            return "Content-Length and Transfer-Encoding must not come together"
        request_line = head[: head.index(b"\r\n")]
        if request_line.endswith(b" http/1.0"):
            return "Transfer-Encoding is not part of HTTP/1.0"
    if head.count(b"\nhost:") > 1:
        return "a request has one Host"
    return None


class _StrictConnection(h11.Connection):
    """h11's server side that also refuses the ambiguous requests h11 accepts, and calls
    ``after_event`` after each event that can change the client's state."""

    def __init__(self, max_incomplete_event_size: int, after_event: Callable[[], None]):
        super().__init__(h11.SERVER, max_incomplete_event_size)
        self.after_event = after_event
        self.fault: str | None = None  # why a request was refused here, for the 400's detail

    def next_event(self):
        if self.their_state is h11.IDLE:
            # The next request's head is at the start of what h11 has not parsed yet.
            fault = _head_fault(self.trailing_data[0])
            if fault:
                self.fault = fault
                # uvicorn answers h11's own refusals through send_400_response; this too.
                raise h11.RemoteProtocolError(fault, error_status_hint=400)
        event = super().next_event()
        if type(event) is not h11.Data:  # a piece of body changes nothing
            self.after_event()
        return event


# This worker's connections that owe a complete request, the longest waiting first: the next
# to close when the worker is full. A worker runs one event loop, so one line a process.
_WAITING: collections.OrderedDict[EdgeProtocol, None] = collections.OrderedDict()


@functools.cache
def _settings() -> Settings:
    """Read once a process; workers inherit the environment `applytry serve` checked."""
    return Settings.from_env()


class EdgeProtocol(H11Protocol):
    """uvicorn's h11 protocol with the edge's limits; ``applytry serve`` names it to uvicorn,
    which builds one a connection."""

    def __init__(self, config, server_state, app_state, _loop=None):
        super().__init__(config, server_state, app_state, _loop)
        size = config.h11_max_incomplete_event_size
        self.conn = _StrictConnection(
            DEFAULT_MAX_INCOMPLETE_EVENT_SIZE if size is None else size, self._track
        )
        settings = _settings()
        self.request_timeout_s = settings.request_timeout_s
        self.max_connections = settings.max_connections
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            if not _WAITING:
                # Every connection has a request in hand: nothing to make room with.
                log.warning("refused a connection: %d open", len(self.connections))
                transport.close()
                return
            oldest, _ = _WAITING.popitem(last=False)
            oldest._give_up("the server was full, and this connection had waited longest")
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._stop_waiting()  # the connection is the WebSocket protocol's from here on
        super().handle_websocket_upgrade(event)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answers in text/plain and may write after a response has begun.
        self._refuse(400, self.conn.fault or "the request is not valid HTTP/1.1")

    def _track(self) -> None:
        """After each event: while h11 awaits a request's head (IDLE) or body (SEND_BODY),
        the client owes one, and waits in line; and, unless it is idle between requests,
        which uvicorn's keep-alive timer covers, against the deadline."""
        state = self.conn.their_state
        if state is not h11.IDLE and state is not h11.SEND_BODY:
            self._stop_waiting()  # the request is whole, or the connection is ending
            return
        if self.transport.is_closing():
            return  # connection_lost follows
        if self not in _WAITING:
            _WAITING[self] = None
        if state is h11.IDLE and self.timeout_keep_alive_task is not None:
            self._cancel_deadline()
        elif self.deadline is None:
            self.deadline = self.loop.call_later(self.request_timeout_s, self._give_up)

    def _stop_waiting(self) -> None:
        _WAITING.pop(self, None)
        self._cancel_deadline()

    def _cancel_deadline(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _give_up(self, detail: str | None = None) -> None:
        """Closes a connection that owes a request, when its deadline passes or the worker
        needs room: after a 408 if a request had begun."""
        self.deadline = None
        if self.transport.is_closing():
            return
        detail = detail or f"the request did not arrive within {self.request_timeout_s:g} s"
        log.info("closed a connection: %s", detail)
        if self.conn.their_state is h11.SEND_BODY or self.conn.trailing_data[0]:
            self._refuse(408, detail)
        else:
            self._close()  # nothing was asked, so there is nothing to answer

    def _refuse(self, status: int, detail: str) -> None:
        """Answers with a problem, unless a response has begun, and closes the connection."""
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = problems.document(status, messages.ENGLISH, detail).encode()
            headers = [
                *self.server_state.default_headers,
                (b"content-type", problems.PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            response = h11.Response(
                status_code=status, headers=headers, reason=STATUS_PHRASES[status]
            )
            # Should h11 not write it in some state, closing says enough.
            with contextlib.suppress(h11.LocalProtocolError):
                self.transport.write(
                    self.conn.send(response)
                    + self.conn.send(h11.Data(data=body))
                    + self.conn.send(h11.EndOfMessage())
                )
        self._close()

    def _close(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            # An app still reading the body learns the client is gone and writes no more.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()
