"""Thin operation handlers: read the request, call the domain, shape the reply.

What a handler needs of the request besides its body (the client's address, language and API
key) is read from the ASGI scope in one pass over its headers (:func:`incoming`), rather than
through connexion's request proxy, which costs a lookup and a request object per access.
"""

from __future__ import annotations

import dataclasses

from applytry import clients, messages

_FORWARDED_FOR = b"x-forwarded-for"
_WANTED = (b"accept-language", b"x-app-key", _FORWARDED_FOR)


@dataclasses.dataclass(frozen=True, slots=True)
class Incoming:
    address: str  # the client, as the trusted proxies saw it (applytry.clients)
    language: str  # of the reply and the SMS (applytry.messages)
    api_key: str | None  # X-APP-Key, when sent


def incoming(scope, trusted: tuple[clients.Network, ...]) -> Incoming:
    """Reads an ASGI request scope. A repeated header counts by its first value, as
    Starlette's ``headers.get`` does, except ``X-Forwarded-For``: its lines are one list in
    order (RFC 9110 section 5.3), and a proxy that appends a line of its own (HAProxy's
    ``option forwardfor``) writes the last hop, which a forged first line must not hide."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name == _FORWARDED_FOR and name in found:
            found[name] += "," + value.decode("latin-1")
        elif name in _WANTED and name not in found:
            found[name] = value.decode("latin-1")
    peer = scope.get("client")
    return Incoming(
        address=clients.client_address(
            peer[0] if peer else None, found.get(_FORWARDED_FOR), trusted
        ),
        language=messages.negotiate(found.get(b"accept-language")),
        api_key=found.get(b"x-app-key"),
    )
