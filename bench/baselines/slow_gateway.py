"""An SMS webhook gateway that takes 200 ms to accept each message."""

import asyncio

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route


async def accept(_request):
    await asyncio.sleep(0.2)
    return Response(b"{}", media_type="application/json")


app = Starlette(routes=[Route("/sms", accept, methods=["POST"])])
