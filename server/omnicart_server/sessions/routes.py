"""HTTP routes of device sessions."""

from __future__ import annotations

from litestar import delete, get, post

from omnicart.protocol.sessions import CreateSession, DeviceSession, SessionCreated
from omnicart_server.context import ServerContext
from omnicart_server.deps import BEARER_SECURITY
from omnicart_server.problems import problem_responses
from omnicart_server.sessions.service import Device


@post(
    "/v1/sessions",
    status_code=201,
    tags=["sessions"],
    summary="Open a device session, for a new customer or the one of `customer_token`",
    responses=problem_responses(401, 413, 422),
)
async def open_session(data: CreateSession, ctx: ServerContext) -> SessionCreated:
    return await ctx.sessions.open(data)


@get(
    "/v1/sessions",
    tags=["sessions"],
    summary="The customer's device sessions",
    security=BEARER_SECURITY,
    responses=problem_responses(401),
)
async def list_sessions(caller: Device, ctx: ServerContext) -> list[DeviceSession]:
    return await ctx.sessions.list(caller.customer_id)


@delete(
    "/v1/sessions/{session_id:str}",
    tags=["sessions"],
    summary="Revoke one of the customer's sessions; its token stops working at once",
    security=BEARER_SECURITY,
    responses=problem_responses(401, 404),
)
async def revoke_session(session_id: str, caller: Device, ctx: ServerContext) -> None:
    await ctx.sessions.revoke(caller, session_id)


ROUTES = [open_session, list_sessions, revoke_session]
