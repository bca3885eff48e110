"""The ceiling: a Starlette app that answers generateverifycode's path with a constant reply."""

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

REPLY = b'{"retCode": "201", "retMsg": "The verification code already exists. Send it later."}'


async def constant(_request):
    return Response(REPLY, media_type="application/json")


app = Starlette(
    routes=[
        Route(
            "/apiaccess/rest/ipccprovision/v1/applyTry/generateverifycode",
            constant,
            methods=["POST"],
        )
    ]
)
