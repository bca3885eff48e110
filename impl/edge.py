"""The HTTP edge: what a client can do to a connection before the app sees a request.

``applytry serve`` runs uvicorn's h11 protocol with these changes:

- **Time.** A request's head and body must arrive within ``APPLYTRY_REQUEST_TIMEOUT_S`` of its
  first byte, or of the connection's opening; otherwise the connection is closed, after a 408 if
  the client had begun a request and no response has. Without this, a client that never
  finishes a request holds a connection, and a file descriptor, for as long as it likes.
  Between requests uvicorn's own keep-alive timer (5 s) closes an idle connection, as before.
  A client that stops reading the answers it asked for (pipelined requests, a tiny receive
  window) is reset once its answer has waited as long: a close would wait for it to read.
- **Room.** A worker holds at most ``APPLYTRY_MAX_CONNECTIONS`` connections. One more, and the
  connection that has waited longest for a complete request is closed, not the new one (or,
  failing that, the one whose client has longest left its answers unread): a flood of slow
  connections then only displaces itself, while an ordinary request, whole in milliseconds,
  still gets in.
- **Framing.** A request that two parsers could frame differently is refused with 400 and the
  connection closed (RFC 9112 sections 2.2, 3.2, 5.2 and 6.1), besides everything h11 refuses
  itself, in a request's head and in a chunked body's size lines and trailers, and any version
  but HTTP/1.1 and 1.0: behind a proxy that read it otherwise, what the proxy took for a body
  would be a second request here, one the proxy never checked (request smuggling).
- **No upgrade.** An offer to switch to WebSocket or h2c is an ordinary request: the
  WebSocket protocol would take the connection out of reach of all of the above.
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
from h11._readers import ChunkedReader
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
    fault = _lines_fault(head, "the request head", "header")
    if fault:
        return fault
    if b"\ntransfer-encoding:" in head:
        if b"\ncontent-length:" in head:
            # h11 goes by Transfer-Encoding; a proxy going by Content-Length would pass the
            # rest of the body on as the next request.
            return "Content-Length and Transfer-Encoding must not come together"
        if head.startswith(_HTTP_1_0, head.index(b"\r\n") - len(_HTTP_1_0)):
            return "Transfer-Encoding is not part of HTTP/1.0"
    if head.count(b"\nhost:") > 1:
        return "a request has one Host"
    request_line = head[: head.index(b"\r\n")]
    if not request_line.endswith((_HTTP_1_1, _HTTP_1_0)):
        # h11 takes any HTTP/x.y for 1.1 (HTTP/2.0 without a Host, HTTP/0.9): a proxy may not.
        return "only HTTP/1.1 and HTTP/1.0 are spoken here"
    return None


_HTTP_1_1, _HTTP_1_0 = b" http/1.1", b" http/1.0"
# RFC 9112 section 7.1: a chunk-size in hex, extensions after a ";", then CRLF: no white space
# before the CRLF and no bare CR in an extension, which h11 lets pass and a proxy may read
# otherwise.
_CHUNK_SIZE_LINE = re.compile(rb"(?P<size>[0-9A-Fa-f]{1,16})(;[^\r\n]*)?\r\n")


def _trailer_fault(section: bytes) -> str | None:
    """What h11 would let pass in a chunked body's trailer section (what follows the last
    chunk's size line); None when nothing, or while it is not whole."""
    end = _END_OF_HEAD.search(b"\r\n" + section)
    if end is None:
        return None
    return _lines_fault(section[: end.end() - 2], "a chunked body", "trailer")


def _lines_fault(block: bytes, where: str, kind: str) -> str | None:
    """What h11 lets pass in a block of header or trailer lines: a line not ended by CRLF
    (h11 ends one at a bare LF; a proxy may not, and see other lines than we do), or a folded
    line (h11 joins it to the one before; a proxy may take it for a line of its own)."""
    line_ends = block.count(b"\r\n")
    if block.count(b"\n") != line_ends or block.count(b"\r") != line_ends:
        return f"every line of {where} must end with CRLF"
    if b"\n " in b"\n" + block or b"\n\t" in b"\n" + block:
        return f"{kind} lines must not be folded"
    return None


class _StrictChunkedReader:
    """h11's reader of a chunked body, which also refuses what h11 lets pass in it: white
    space or a bare CR in a chunk-size line, trailer lines not ended by CRLF or folded. Where
    the body ends must be beyond doubt, or a proxy could see a second request in it."""

    def __init__(self, reader: ChunkedReader, refuse: Callable[[str], None]):
        self._reader = reader
        self._refuse = refuse

    def __call__(self, buf):
        reader = self._reader
        if reader._reading_trailer:
            self._check(_trailer_fault(bytes(buf)))
        elif reader._bytes_in_chunk == 0 and not reader._bytes_to_discard:
            received = bytes(buf)
            line_end = received.find(b"\n") + 1
            if line_end:
                line = _CHUNK_SIZE_LINE.fullmatch(received, 0, line_end)
                if line is None:
                    self._refuse("a chunk-size line is not as RFC 9112 writes it")
                if int(line["size"], 16) == 0:
                    # h11 reads the trailers in the same call: check them first.
                    self._check(_trailer_fault(received[line_end:]))
        return reader(buf)

    def _check(self, fault: str | None) -> None:
        if fault:
            self._refuse(fault)

    def read_eof(self):
        return self._reader.read_eof()


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
                self.refuse(fault)
        event = super().next_event()
        if type(event) is h11.Request and isinstance(self._reader, ChunkedReader):
            self._reader = _StrictChunkedReader(self._reader, self.refuse)
        if type(event) is not h11.Data:  # a piece of body changes nothing
            self.after_event()
        return event

    def refuse(self, fault: str) -> None:
        self.fault = fault
        # uvicorn answers h11's own refusals through send_400_response; this too.
        raise h11.RemoteProtocolError(fault, error_status_hint=400)


# This worker's connections that owe a complete request, the longest waiting first: the next
# to close when the worker is full. A worker runs one event loop, so one line a process.
_WAITING: collections.OrderedDict[EdgeProtocol, None] = collections.OrderedDict()
# Those whose client reads none of the answers it asked for, the longest stalled first.
_STALLED: collections.OrderedDict[EdgeProtocol, None] = collections.OrderedDict()


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
        self.write_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            if _WAITING:
                oldest, _ = _WAITING.popitem(last=False)
                oldest._give_up("the server was full, and this connection had waited longest")
            elif _STALLED:
                stalled, _ = _STALLED.popitem(last=False)
                stalled._abandon("the server was full")
            else:
                # Every connection has a request in hand: nothing to make room with.
                log.warning("refused a connection: %d open", len(self.connections))
                transport.close()
                return
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        self._stop_stalling()
        super().connection_lost(exc)

    def _should_upgrade(self) -> bool:
        # No WebSocket here: uvicorn would hand the connection to a protocol that answers in
        # plain text and that no deadline or bound of this module covers. An upgrade offer
        # (WebSocket, h2c) is an ordinary request, answered by the app.
        return False

    def pause_writing(self) -> None:
        """The client does not read what it asked for (pipelined requests it never reads the
        answers to): it holds the connection as surely as one that never sends, so it gets
        the same deadline, and is the first to go when the worker is full."""
        super().pause_writing()
        _STALLED[self] = None
        self.write_deadline = self.loop.call_later(
            self.request_timeout_s, self._abandon, f"no answer read in {self.request_timeout_s:g} s"
        )

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_stalling()

    def _abandon(self, why: str) -> None:
        """Resets a connection whose client reads none of its answers: a close would wait for
        the client to read them first."""
        self._stop_stalling()
        log.info("reset a connection whose client reads none of its answers: %s", why)
        self.transport.abort()

    def _stop_stalling(self) -> None:
        _STALLED.pop(self, None)
        if self.write_deadline is not None:
            self.write_deadline.cancel()
            self.write_deadline = None

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
