"""HTTP routes of call-center assist."""

from __future__ import annotations

from litestar import delete, post

from omnicart.protocol.assist import AgentPickup, AgentSession, AssistOffer
from omnicart_server.auth.api_keys import TrustedBackend
from omnicart_server.context import ServerContext
from omnicart_server.deps import API_KEY_SECURITY, BEARER_SECURITY
from omnicart_server.problems import problem_responses
from omnicart_server.sessions.service import Device


@post(
    "/v1/assist",
    status_code=201,
    tags=["assist"],
    summary="The shopper consents to help: a PIN to read out to the contact center",
    security=BEARER_SECURITY,
    responses=problem_responses(401, 403),
)
async def offer_assist(caller: Device, ctx: ServerContext) -> AssistOffer:
    return await ctx.assist.offer(caller)


@delete(
    "/v1/assist/{consent_id:str}",
    tags=["assist"],
    summary="The shopper withdraws consent: every agent session on it ends now",
    security=BEARER_SECURITY,
    responses=problem_responses(401, 403, 404),
)
async def revoke_assist(consent_id: str, caller: Device, ctx: ServerContext) -> None:
    await ctx.assist.revoke(caller, consent_id)


@post(
    "/v1/agent/sessions",
    status_code=201,
    tags=["assist"],
    summary="An agent (API key with scope `agent`) picks a customer up by PIN, or by identity in trusted setups",
    security=API_KEY_SECURITY,
    responses=problem_responses(401, 403, 404, 413, 422, 429),
)
async def agent_pickup(data: AgentPickup, backend: TrustedBackend, ctx: ServerContext) -> AgentSession:
    return await ctx.assist.pickup(backend, data)


ROUTES = [offer_assist, revoke_assist, agent_pickup]
