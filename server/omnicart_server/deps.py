"""Dependency providers: the process's ServerContext and the authenticated device of a request."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from omnicart_server.context import ServerContext
from omnicart_server.errors import TokenMissing
from omnicart_server.sessions.service import Device

BEARER = "bearer "


def provide_ctx(state: State) -> ServerContext:
    ctx: ServerContext = state.ctx
    return ctx


async def provide_caller(request: Request[object, object, State], ctx: ServerContext) -> Device:
    """The device whose session token is in `Authorization: Bearer ...` (never in the URL).

    Named `caller`, not `device`: Litestar blames a dependency for any body field of the same name.
    """
    header = request.headers.get("authorization", "")
    if not header[: len(BEARER)].lower() == BEARER or not header[len(BEARER) :].strip():
        raise TokenMissing("Send the session token as `Authorization: Bearer <session_token>`.")
    return await ctx.sessions.authenticate(header[len(BEARER) :].strip())


DEPENDENCIES = {
    "ctx": Provide(provide_ctx, sync_to_thread=False),
    "caller": Provide(provide_caller),
}
BEARER_SECURITY: list[dict[str, list[str]]] = [{"session": []}]
"""OpenAPI security requirement of routes that need a device session."""
