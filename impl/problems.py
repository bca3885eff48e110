"""Every error the service answers, as an RFC 9457 problem, from one place.

Handlers and domain code raise; this module turns what they raise into ``application/problem+
json`` with a title from the message catalogue in the caller's language. Nothing internal (a
stack trace, an SQL error, a path) reaches the caller; it goes to the log instead.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

import connexion
import peewee
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from applytry import faults, messages
from applytry.errors import InvalidInput
from applytry.keys import MissingKey, WrongKey
from applytry.limits import RateLimited
from applytry.receipts import ForgedReceipt

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class PayloadTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"the request body exceeds {limit} bytes")


def document(status: int, language: str, detail: str | None = None) -> str:
    """The problem's JSON: what every 4xx and 5xx of the service carries, whichever layer
    answers (the app, CORS, the HTTP server)."""
    body = {
        "type": "about:blank",
        "title": messages.problem_title(status, language),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    return json.dumps(body, ensure_ascii=False)


def problem(
    request: ConnexionRequest,
    status: int,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
) -> ConnexionResponse:
    language = messages.negotiate(request.headers.get("accept-language"))
    return ConnexionResponse(
        status_code=status,
        mimetype=PROBLEM_JSON,
        content_type=PROBLEM_JSON,
        body=document(status, language, detail),
        headers=dict(headers or {}),
    )


async def http_error(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
    """Connexion's own problems (validation, 404, 405, 415) and ours, re-titled."""
    # A 503 says what is missing (readiness); other 5xx details stay in the log.
    detail = exc.detail if exc.status_code < 500 or exc.status_code == 503 else None
    if exc.status_code >= 500 and exc.status_code != 503:
        log.error("server problem: %s", exc.detail)
    # Starlette fills an empty detail with the status phrase; it says nothing the title doesn't.
    if detail == HTTPStatus(exc.status_code).phrase:
        detail = None
    return problem(request, exc.status_code, detail, exc.headers)


async def invalid_input(request: ConnexionRequest, exc: InvalidInput) -> ConnexionResponse:
    return problem(request, 400, str(exc))


async def forged_receipt(request: ConnexionRequest, exc: ForgedReceipt) -> ConnexionResponse:
    log.warning("refused a delivery receipt: %s", exc)
    return problem(request, 403, str(exc))


async def missing_key(request: ConnexionRequest, exc: MissingKey) -> ConnexionResponse:
    return problem(request, 401, str(exc))


async def wrong_key(request: ConnexionRequest, exc: WrongKey) -> ConnexionResponse:
    return problem(request, 403, str(exc))


async def rate_limited(request: ConnexionRequest, exc: RateLimited) -> ConnexionResponse:
    return problem(request, 429, str(exc), {"Retry-After": str(exc.retry_after)})


async def undecodable(request: ConnexionRequest, exc: UnicodeDecodeError) -> ConnexionResponse:
    # connexion decodes JSON bodies without catching this and would answer 500
    # (https://github.com/spec-first/connexion/issues/1860).
    return problem(request, 400, "the request body is not valid UTF-8")


async def too_deep(request: ConnexionRequest, exc: RecursionError) -> ConnexionResponse:
    # Python's JSON parser recurses once per nesting level; connexion does not catch the error.
    return problem(request, 400, "the request body nests too deeply")


async def database_failure(
    request: ConnexionRequest, exc: peewee.PeeweeException
) -> ConnexionResponse:
    faults.database_failed(exc, "request failed")
    return problem(request, 500)


async def unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.error("unexpected failure", exc_info=exc)
    return problem(request, 500)


def register(app: connexion.AsyncApp) -> None:
    # Handlers are coroutines so that they run on the event loop's thread, which owns the
    # database connection (connexion runs plain functions in a thread pool).
    # connexion registers its own handler for ProblemException; ours must replace it too.
    app.add_error_handler(ProblemException, http_error)
    app.add_error_handler(HTTPException, http_error)
    app.add_error_handler(InvalidInput, invalid_input)
    app.add_error_handler(RateLimited, rate_limited)
    app.add_error_handler(ForgedReceipt, forged_receipt)
    app.add_error_handler(MissingKey, missing_key)
    app.add_error_handler(WrongKey, wrong_key)
    app.add_error_handler(UnicodeDecodeError, undecodable)
    app.add_error_handler(RecursionError, too_deep)
    app.add_error_handler(peewee.PeeweeException, database_failure)
    app.add_error_handler(Exception, unexpected)
