"""HTTP routes of device handoff."""

from __future__ import annotations

from typing import Any

from litestar import Request, post

from omnicart.protocol.handoff import ClaimHandoff, HandoffOffer
from omnicart.protocol.sessions import SessionCreated
from omnicart_server.context import ServerContext
from omnicart_server.deps import BEARER_SECURITY
from omnicart_server.problems import problem_responses
from omnicart_server.sessions.service import Device


@post(
    "/v1/handoff",
    status_code=201,
    tags=["handoff"],
    summary="A single-use code (and QR) for another device to continue as this customer",
    security=BEARER_SECURITY,
    responses=problem_responses(401, 403, 429),
)
async def offer_handoff(caller: Device, ctx: ServerContext) -> HandoffOffer:
    return await ctx.handoff.offer(caller)


@post(
    "/v1/handoff/claim",
    status_code=201,
    tags=["handoff"],
    summary="Claim a handoff code: a session for the same customer on this device",
    responses=problem_responses(404, 409, 410, 413, 422, 429),
)
async def claim_handoff(data: ClaimHandoff, request: Request[Any, Any, Any], ctx: ServerContext) -> SessionCreated:
    address = request.client.host if request.client else "unknown"
    return await ctx.handoff.claim(data, address)


ROUTES = [offer_handoff, claim_handoff]
