"""The framework users would pick instead: generateverifycode mounted in FastAPI, with its own
(pydantic) validation in place of the spec's and everything else the same as in applytry: the
request-log middleware (request id, access log, metrics), the API-key check, the client address
behind trusted proxies, the domain, the reply and the background work of a process (refusal
counts, SQLite checkpoints, job retries). Configured like applytry, from the
environment; run with ``uvicorn --factory bench.baselines.fastapi_mount:create_app``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from applytry.app import lifespan, operation_paths
from applytry.config import Settings
from applytry.errors import InvalidInput
from applytry.handlers import incoming
from applytry.handlers.verification import verify_code_reply
from applytry.keys import MissingKey, WrongKey
from applytry.limits import RateLimited
from applytry.requestlog import RequestLog
from applytry.services import build_services
from applytry.storage import prepare_storage


class GenerateVerifyCodeRequest(BaseModel):
    phone: str = Field(min_length=1, max_length=32)


def create_app() -> FastAPI:
    settings = Settings.from_env()
    services = build_services(settings, prepare_storage(settings))
    app = FastAPI(lifespan=lifespan(services))
    app.add_middleware(RequestLog, operations=operation_paths())

    @app.post("/apiaccess/rest/ipccprovision/v1/applyTry/generateverifycode")
    async def generate_verify_code(body: GenerateVerifyCodeRequest, request: Request):
        caller = incoming(request.scope, services.trusted)
        try:
            reply, status, headers = await verify_code_reply(services, body.phone, caller)
        except InvalidInput as exc:
            return JSONResponse({"title": "Bad Request", "status": 400, "detail": str(exc)}, 400)
        except RateLimited:
            return JSONResponse({"title": "Too Many Requests", "status": 429}, 429)
        except (MissingKey, WrongKey) as exc:
            return JSONResponse({"title": "Unauthorized", "detail": str(exc)}, 401)
        return JSONResponse(reply, status, headers)

    return app
