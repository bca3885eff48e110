"""CORS for the website's origins (``APPLYTRY_CORS_ORIGINS``).

Starlette's middleware, with preflight answers that follow the service's own rules: an allowed
preflight is ``204`` with the CORS headers and no body, a refused one a ``403`` problem that
names what was refused (Starlette answers ``200 OK`` and ``400`` in plain text). Outside the
exception middleware, so that problems carry the headers too and a browser can read why a call
failed; ``Retry-After`` is exposed because the website waits on it. No credentials: the API
uses none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from applytry import messages, problems


class WebsiteCors(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        headers = {
            name: value
            for name, value in answer.headers.items()
            if name.lower() not in ("content-type", "content-length")
        }
        if answer.status_code < 400:
            return Response(status_code=204, headers=headers)
        language = messages.negotiate(request_headers.get("accept-language"))
        refused = answer.body.decode().removeprefix("Disallowed CORS ")
        detail = f"cross-origin request refused: {refused} not allowed"
        body = problems.document(403, language, detail)
        return Response(body, status_code=403, headers=headers, media_type=problems.PROBLEM_JSON)


def allowed_origins(origins: tuple[str, ...]) -> Callable:
    return functools.partial(
        WebsiteCors,
        allow_origins=list(origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Accept-Language", "X-APP-Key", "X-Request-ID"],
        expose_headers=["Retry-After", "X-Request-ID"],
        max_age=600,
    )
