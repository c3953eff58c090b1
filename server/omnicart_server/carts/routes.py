"""HTTP routes of the cart."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.params import Parameter

from omnicart.protocol.cart import Cart, CartOpsRequest
from omnicart_server.context import ServerContext
from omnicart_server.db.idempotency import check_key
from omnicart_server.deps import BEARER_SECURITY
from omnicart_server.metrics import OPS_APPLIED
from omnicart_server.problems import problem_responses
from omnicart_server.sessions.service import Device

REPLAYED_HEADER = "Idempotent-Replayed"


@get(
    "/v1/cart",
    tags=["cart"],
    summary="The customer's active cart",
    security=BEARER_SECURITY,
    responses=problem_responses(401),
)
async def get_cart(caller: Device, ctx: ServerContext) -> Cart:
    return await ctx.carts.get(caller.customer_id)


@post(
    "/v1/cart/ops",
    status_code=200,
    tags=["cart"],
    summary="Apply a batch of cart ops atomically; retry safely with the same Idempotency-Key",
    security=BEARER_SECURITY,
    responses=problem_responses(400, 401, 403, 409, 413, 422),
)
async def apply_cart_ops(
    data: CartOpsRequest,
    caller: Device,
    ctx: ServerContext,
    idempotency_key: Annotated[
        str | None,
        Parameter(
            header="Idempotency-Key",
            description="Any unique string per intended change; a retry with the same key and body is applied once.",
        ),
    ] = None,
) -> Response[Cart]:
    key = check_key(idempotency_key) if idempotency_key is not None else None
    cart, replayed = await ctx.carts.apply(caller, data, key)
    if replayed:
        return Response(cart, headers={REPLAYED_HEADER: "true"})
    OPS_APPLIED.inc(len(data.ops))
    return Response(cart)


ROUTES = [get_cart, apply_cart_ops]
