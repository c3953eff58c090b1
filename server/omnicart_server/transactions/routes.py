"""HTTP routes of resumable transactions."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.params import Parameter

from omnicart.protocol.transactions import ConfirmPayment, StartTransaction, Step, Transaction, TransactionList
from omnicart_server.auth.api_keys import TrustedBackend
from omnicart_server.carts.routes import REPLAYED_HEADER
from omnicart_server.context import ServerContext
from omnicart_server.db.idempotency import check_key
from omnicart_server.deps import API_KEY_SECURITY, BEARER_SECURITY
from omnicart_server.problems import problem_responses
from omnicart_server.sessions.service import Device


@post(
    "/v1/transactions",
    status_code=201,
    tags=["transactions"],
    summary="Start a transaction (checkout, booking, return, support_case, ...) driven by this device",
    security=BEARER_SECURITY,
    responses=problem_responses(401, 413, 422),
)
async def start_transaction(data: StartTransaction, caller: Device, ctx: ServerContext) -> Transaction:
    return await ctx.transactions.start(caller, data)


@get(
    "/v1/transactions",
    tags=["transactions"],
    summary="The customer's transactions, newest first",
    security=BEARER_SECURITY,
    responses=problem_responses(401),
)
async def list_transactions(caller: Device, ctx: ServerContext) -> TransactionList:
    return await ctx.transactions.list(caller)


@get(
    "/v1/transactions/{transaction_id:str}",
    tags=["transactions"],
    summary="One transaction, with what it may do next",
    security=BEARER_SECURITY,
    responses=problem_responses(401, 404),
)
async def get_transaction(transaction_id: str, caller: Device, ctx: ServerContext) -> Transaction:
    return await ctx.transactions.get(caller, transaction_id)


@post(
    "/v1/transactions/{transaction_id:str}/step",
    status_code=200,
    tags=["transactions"],
    summary="Update fields and/or move state, as the driving device; retry safely with the same Idempotency-Key",
    security=BEARER_SECURITY,
    responses=problem_responses(400, 401, 404, 409, 413, 422),
)
async def step_transaction(
    transaction_id: str,
    data: Step,
    caller: Device,
    ctx: ServerContext,
    idempotency_key: Annotated[str | None, Parameter(header="Idempotency-Key")] = None,
) -> Response[Transaction]:
    key = check_key(idempotency_key) if idempotency_key is not None else None
    view, replayed = await ctx.transactions.step(caller, transaction_id, data, key)
    return Response(view, headers={REPLAYED_HEADER: "true"} if replayed else None)


@post(
    "/v1/transactions/{transaction_id:str}/takeover",
    status_code=200,
    tags=["transactions"],
    summary="Drive this transaction from this device; the previous driver is told live",
    security=BEARER_SECURITY,
    responses=problem_responses(401, 404, 409),
)
async def take_over_transaction(transaction_id: str, caller: Device, ctx: ServerContext) -> Transaction:
    return await ctx.transactions.takeover(caller, transaction_id)


@post(
    "/v1/transactions/{transaction_id:str}/payment",
    status_code=200,
    tags=["transactions"],
    summary="Payment backend (API key, scope `payments`): confirm or fail a checkout's payment; idempotent",
    security=API_KEY_SECURITY,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
)
async def confirm_payment(
    transaction_id: str, data: ConfirmPayment, backend: TrustedBackend, ctx: ServerContext
) -> Transaction:
    return await ctx.transactions.confirm_payment(backend, transaction_id, data)


ROUTES = [
    start_transaction,
    list_transactions,
    get_transaction,
    step_transaction,
    take_over_transaction,
    confirm_payment,
]
