"""Thin operation handlers: read the request, call the domain, shape the reply."""

from __future__ import annotations

from connexion import request

from applytry import clients


def caller(trusted: tuple[clients.Network, ...]) -> str:
    """The client address of the current request (see :mod:`applytry.clients`)."""
    peer = request.scope.get("client")
    return clients.client_address(
        peer[0] if peer else None, request.headers.get("x-forwarded-for"), trusted
    )


def authorize(services) -> None:
    """Raises keys.MissingKey (401) or keys.WrongKey (403) once operators require API keys."""
    services.keys.authorize(request.headers.get("x-app-key"))
