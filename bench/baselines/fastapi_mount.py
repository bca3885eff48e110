"""The framework users would pick instead: the same domain functions mounted in FastAPI, with
its own (pydantic) validation in place of the spec's. Configured like applytry, from the
environment; run with ``uvicorn --factory bench.baselines.fastapi_mount:create_app``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from applytry import messages
from applytry.config import Settings
from applytry.errors import InvalidInput
from applytry.limits import RateLimited
from applytry.services import build_services
from applytry.storage import prepare_storage


class GenerateVerifyCodeRequest(BaseModel):
    phone: str = Field(min_length=1, max_length=32)


def create_app() -> FastAPI:
    settings = Settings.from_env()
    services = build_services(settings, prepare_storage(settings))
    app = FastAPI()

    @app.post("/apiaccess/rest/ipccprovision/v1/applyTry/generateverifycode")
    async def generate_verify_code(body: GenerateVerifyCodeRequest, request: Request):
        language = messages.negotiate(request.headers.get("accept-language"))
        client = request.client.host if request.client else "unknown"
        try:
            outcome = await services.issuer.issue(body.phone, client, language)
        except InvalidInput as exc:
            return JSONResponse({"title": "Bad Request", "status": 400, "detail": str(exc)}, 400)
        except RateLimited:
            return JSONResponse({"title": "Too Many Requests", "status": 429}, 429)
        headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else {}
        reply = {
            "retCode": outcome.ret_code,
            "retMsg": messages.ret_message(outcome.ret_code, language),
        }
        return JSONResponse(reply, headers=headers)

    return app
