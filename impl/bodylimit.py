"""Bounds request bodies before anything reads them whole.

Without it a client could make every worker buffer and parse megabytes per request; the
largest legitimate body here is a few hundred bytes. A chunked body (no Content-Length) is read
here, up to the bound, and handed on with its length: connexion takes a request without
Content-Length for one without a body and would answer "RequestBody is required".
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from applytry.problems import PayloadTooLarge

MAX_BODY_BYTES = 16 * 1024


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.max_bytes:
                raise PayloadTooLarge(self.max_bytes)
            await self.app(scope, receive, send)
            return
        body = await self._read_bounded(receive)
        if not body:
            await self.app(scope, receive, send)
            return
        headers = [*scope["headers"], (b"content-length", str(len(body)).encode())]
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # only a disconnect can come now
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)

    async def _read_bounded(self, receive: Receive) -> bytes:
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise PayloadTooLarge(self.max_bytes)
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)
