"""HTTP routes of webhook endpoints (API key with scope `admin`)."""

from __future__ import annotations

from litestar import delete, get, post

from omnicart.protocol.webhooks import CreateWebhook, DeliveryList, Webhook, WebhookList
from omnicart_server.auth.api_keys import ADMIN, TrustedBackend
from omnicart_server.context import ServerContext
from omnicart_server.deps import API_KEY_SECURITY
from omnicart_server.problems import problem_responses


@post(
    "/v1/webhooks",
    status_code=201,
    tags=["webhooks"],
    summary="Register an endpoint for event kinds; deliveries are signed with Standard Webhooks headers",
    security=API_KEY_SECURITY,
    responses=problem_responses(401, 403, 413, 422),
)
async def create_webhook(data: CreateWebhook, backend: TrustedBackend, ctx: ServerContext) -> Webhook:
    backend.require(ADMIN)
    return await ctx.webhooks.create(data)


@get(
    "/v1/webhooks",
    tags=["webhooks"],
    summary="Registered endpoints",
    security=API_KEY_SECURITY,
    responses=problem_responses(401, 403),
)
async def list_webhooks(backend: TrustedBackend, ctx: ServerContext) -> WebhookList:
    backend.require(ADMIN)
    return await ctx.webhooks.list()


@delete(
    "/v1/webhooks/{webhook_id:str}",
    tags=["webhooks"],
    summary="Stop delivering to an endpoint",
    security=API_KEY_SECURITY,
    responses=problem_responses(401, 403, 404),
)
async def delete_webhook(webhook_id: str, backend: TrustedBackend, ctx: ServerContext) -> None:
    backend.require(ADMIN)
    await ctx.webhooks.disable(webhook_id)


@get(
    "/v1/webhooks/{webhook_id:str}/deliveries",
    tags=["webhooks"],
    summary="The delivery log: each delivery with every attempt, newest first",
    security=API_KEY_SECURITY,
    responses=problem_responses(401, 403, 404),
)
async def list_deliveries(webhook_id: str, backend: TrustedBackend, ctx: ServerContext) -> DeliveryList:
    backend.require(ADMIN)
    return await ctx.webhooks.deliveries(webhook_id)


ROUTES = [create_webhook, list_webhooks, delete_webhook, list_deliveries]
