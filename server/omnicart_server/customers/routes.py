"""HTTP routes of identities: trusted backends link and open by identity; a device reads its customer."""

from __future__ import annotations

from litestar import get, post

from omnicart.protocol.identity import CustomerProfile, LinkIdentity, LinkReport, OpenByIdentity
from omnicart.protocol.sessions import SessionCreated
from omnicart_server.auth.api_keys import IDENTITY_WRITE, TrustedBackend
from omnicart_server.context import ServerContext
from omnicart_server.deps import API_KEY_SECURITY, BEARER_SECURITY
from omnicart_server.problems import problem_responses
from omnicart_server.sessions.service import Device


@post(
    "/v1/identities",
    status_code=200,
    tags=["identity"],
    summary="Link a verified identity to a session's customer; merge into its owner if another customer has it",
    security=API_KEY_SECURITY,
    responses=problem_responses(401, 403, 404, 413, 422),
)
async def link_identity(data: LinkIdentity, backend: TrustedBackend, ctx: ServerContext) -> LinkReport:
    backend.require(IDENTITY_WRITE)
    return await ctx.customers.link(data)


@post(
    "/v1/sessions/by-identity",
    status_code=201,
    tags=["identity"],
    summary="Open a session for whoever has this identity (trusted channels: messaging, call center, store)",
    security=API_KEY_SECURITY,
    responses=problem_responses(401, 403, 413, 422),
)
async def open_by_identity(data: OpenByIdentity, backend: TrustedBackend, ctx: ServerContext) -> SessionCreated:
    backend.require(IDENTITY_WRITE)
    return await ctx.customers.open_by_identity(data)


@get(
    "/v1/customer",
    tags=["identity"],
    summary="The customer: identities, channels used, a summary of the history",
    security=BEARER_SECURITY,
    responses=problem_responses(401),
)
async def get_customer(caller: Device, ctx: ServerContext) -> CustomerProfile:
    return await ctx.customers.profile(caller.customer_id)


ROUTES = [link_identity, open_by_identity, get_customer]
