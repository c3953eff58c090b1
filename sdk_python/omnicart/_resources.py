"""The namespaces of a client (`client.cart`, `client.sessions`, `client.handoff`, `client.transactions`).

Each method only builds its Call (in _calls) and hands it to its client's `run`; the async twins mirror the sync ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omnicart import _calls

if TYPE_CHECKING:
    from omnicart.client import AsyncClient, Client
    from omnicart.protocol.cart import Cart, CartOp
    from omnicart.protocol.handoff import HandoffOffer
    from omnicart.protocol.sessions import DeviceSession
    from omnicart.protocol.transactions import Transaction, TransactionList


class CartApi:
    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self) -> Cart:
        return self._client.run(_calls.get_cart())

    def add(self, sku: str, qty: int = 1, *, expected_version: int | None = None) -> Cart:
        """Add `qty` of a SKU (a SKU already in the cart raises its line); the price comes from the catalog."""
        return self._client.run(_calls.add_item(sku, qty, expected_version))

    def set_quantity(self, line_id: str, qty: int, *, expected_version: int | None = None) -> Cart:
        return self._client.run(_calls.set_quantity(line_id, qty, expected_version))

    def remove(self, line_id: str, *, expected_version: int | None = None) -> Cart:
        return self._client.run(_calls.remove_item(line_id, expected_version))

    def clear(self, *, expected_version: int | None = None) -> Cart:
        return self._client.run(_calls.clear_cart(expected_version))

    def apply(self, ops: list[CartOp], *, expected_version: int | None = None) -> Cart:
        """Several ops as one atomic batch."""
        return self._client.run(_calls.cart_ops(ops, expected_version))

    def set_price(self, line_id: str, unit_price: int, reason: str) -> Cart:
        """Agents only: override a line's price, with the reason written to the customer's log."""
        return self._client.run(_calls.set_price(line_id, unit_price, reason))


class SessionsApi:
    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> list[DeviceSession]:
        return self._client.run(_calls.list_sessions())

    def revoke(self, session_id: str) -> None:
        self._client.run(_calls.revoke_session(session_id))


class HandoffApi:
    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self) -> HandoffOffer:
        """A code (and QR) for another device to continue as this customer."""
        return self._client.run(_calls.offer_handoff())

    def claim(self, code: str) -> None:
        """Make this device continue as the customer who offered `code` (its session is kept in the store)."""
        self._client._adopt(self._client.run(_calls.claim_handoff(code, self._client.channel, self._client.device)))


class TransactionsApi:
    def __init__(self, client: Client) -> None:
        self._client = client

    def start(self, kind: str, data: dict[str, Any] | None = None) -> Transaction:
        return self._client.run(_calls.start_transaction(kind, data or {}))

    def get(self, transaction_id: str) -> Transaction:
        return self._client.run(_calls.get_transaction(transaction_id))

    def list(self) -> TransactionList:
        return self._client.run(_calls.list_transactions())

    def step(
        self,
        transaction_id: str,
        to: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        expected_version: int | None = None,
    ) -> Transaction:
        return self._client.run(_calls.step_transaction(transaction_id, to, data or {}, expected_version))

    def take_over(self, transaction_id: str) -> Transaction:
        return self._client.run(_calls.take_over_transaction(transaction_id))


class AsyncCartApi:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(self) -> Cart:
        return await self._client.run(_calls.get_cart())

    async def add(self, sku: str, qty: int = 1, *, expected_version: int | None = None) -> Cart:
        return await self._client.run(_calls.add_item(sku, qty, expected_version))

    async def set_quantity(self, line_id: str, qty: int, *, expected_version: int | None = None) -> Cart:
        return await self._client.run(_calls.set_quantity(line_id, qty, expected_version))

    async def remove(self, line_id: str, *, expected_version: int | None = None) -> Cart:
        return await self._client.run(_calls.remove_item(line_id, expected_version))

    async def clear(self, *, expected_version: int | None = None) -> Cart:
        return await self._client.run(_calls.clear_cart(expected_version))

    async def apply(self, ops: list[CartOp], *, expected_version: int | None = None) -> Cart:
        return await self._client.run(_calls.cart_ops(ops, expected_version))

    async def set_price(self, line_id: str, unit_price: int, reason: str) -> Cart:
        return await self._client.run(_calls.set_price(line_id, unit_price, reason))


class AsyncSessionsApi:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self) -> list[DeviceSession]:
        return await self._client.run(_calls.list_sessions())

    async def revoke(self, session_id: str) -> None:
        await self._client.run(_calls.revoke_session(session_id))


class AsyncHandoffApi:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self) -> HandoffOffer:
        return await self._client.run(_calls.offer_handoff())

    async def claim(self, code: str) -> None:
        call = _calls.claim_handoff(code, self._client.channel, self._client.device)
        self._client._adopt(await self._client.run(call))


class AsyncTransactionsApi:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def start(self, kind: str, data: dict[str, Any] | None = None) -> Transaction:
        return await self._client.run(_calls.start_transaction(kind, data or {}))

    async def get(self, transaction_id: str) -> Transaction:
        return await self._client.run(_calls.get_transaction(transaction_id))

    async def list(self) -> TransactionList:
        return await self._client.run(_calls.list_transactions())

    async def step(
        self,
        transaction_id: str,
        to: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        expected_version: int | None = None,
    ) -> Transaction:
        return await self._client.run(_calls.step_transaction(transaction_id, to, data or {}, expected_version))

    async def take_over(self, transaction_id: str) -> Transaction:
        return await self._client.run(_calls.take_over_transaction(transaction_id))
