"""Dependency providers: the process's ServerContext and the authenticated device of a request."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from omnicart_server.auth.api_keys import KEY_PREFIX, TrustedBackend, backend_of
from omnicart_server.context import ServerContext
from omnicart_server.errors import TokenInvalid, TokenMissing
from omnicart_server.sessions.service import Device

BEARER = "bearer "


def _bearer(request: Request[object, object, State]) -> str:
    header = request.headers.get("authorization", "")
    if header[: len(BEARER)].lower() != BEARER or not header[len(BEARER) :].strip():
        raise TokenMissing("Send the credential as `Authorization: Bearer <token>`.")
    return header[len(BEARER) :].strip()


async def provide_backend(request: Request[object, object, State], ctx: ServerContext) -> TrustedBackend:
    """A trusted backend identified by its API key (`Authorization: Bearer ock_...`)."""
    key = _bearer(request)
    async with ctx.read_engine.connect() as conn:
        backend = await backend_of(conn, key) if key.startswith(KEY_PREFIX) else None
    if backend is None:
        raise TokenInvalid("This route needs a live API key; create one with `omnicart keys create`.")
    return backend


async def provide_caller(request: Request[object, object, State], ctx: ServerContext) -> Device:
    """The device whose session token is in `Authorization: Bearer ...` (never in the URL).

    Named `caller`, not `device`: Litestar blames a dependency for any body field of the same name.
    """
    return await ctx.sessions.authenticate(_bearer(request))


def dependencies(ctx: ServerContext) -> dict[str, Provide]:
    """The app's dependencies; the context is a constant, not read from app state per request (that copied it)."""
    return {
        "ctx": Provide(lambda: ctx, sync_to_thread=False, use_cache=True),
        "caller": Provide(provide_caller),
        "backend": Provide(provide_backend),
    }


BEARER_SECURITY: list[dict[str, list[str]]] = [{"session": []}]
"""OpenAPI security requirement of routes that need a device session."""
API_KEY_SECURITY: list[dict[str, list[str]]] = [{"api_key": []}]
"""OpenAPI security requirement of routes for trusted backends."""
