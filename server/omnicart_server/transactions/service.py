"""Transactions over the database: start, step, take over, and the payment backend's confirmation.

Every change runs under the customer's lock (the same as cart writes), so a checkout that locks the cart and a
cart edit can never interleave, and two devices pressing "pay" at once serialize: the second finds it done.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import insert, select, update

from omnicart.protocol.cart import Cart
from omnicart.protocol.events import EventKind
from omnicart.protocol.transactions import ConfirmPayment, Order, StartTransaction, Step, Transaction, TransactionList
from omnicart_server.auth.api_keys import PAYMENTS
from omnicart_server.carts.service import active_cart_row, cart_from_row, create_active_cart
from omnicart_server.db import idempotency
from omnicart_server.db.models import CART_IS_ACTIVE, carts, orders, transactions
from omnicart_server.errors import (
    InvalidTransition,
    NotFound,
    TransactionFinished,
    TransactionLeaseHeld,
    VersionConflict,
)
from omnicart_server.transactions.machine import Machine, machine_for

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart_server.auth.api_keys import TrustedBackend
    from omnicart_server.db.executor import Executor
    from omnicart_server.db.writer import Writer, WriteTxn
    from omnicart_server.sessions.service import Device

_encoder = msgspec.json.Encoder()
_data_decoder = msgspec.json.Decoder(dict[str, Any])
_cart_decoder = msgspec.json.Decoder(Cart)
_view_decoder = msgspec.json.Decoder(Transaction)


class TransactionService:
    """Resumable transactions of a customer, driven by one device at a time."""

    def __init__(
        self, writer: Writer, read_engine: AsyncEngine, machines: dict[str, Machine], lease: timedelta, currency: str
    ) -> None:
        self._writer = writer
        self._read_engine = read_engine
        self._machines = machines
        self._lease = lease
        self._currency = currency

    async def start(self, device: Device, request: StartTransaction) -> Transaction:
        """A new transaction in its kind's initial state, driven by this device; checkout freezes the cart."""
        machine = machine_for(self._machines, request.kind)
        machine.check_start(request.data)

        async def work(txn: WriteTxn) -> Transaction:
            me = await device.hold(txn)
            frozen = await _cart_now(txn.conn, me.customer_id) if machine.freezes_cart else None
            transaction_id = "txn_" + secrets.token_hex(8)
            initial = machine.state(machine.initial)
            await txn.conn.execute(
                insert(transactions).values(
                    id=transaction_id,
                    customer_id=me.customer_id,
                    kind=request.kind,
                    state=machine.initial,
                    version=1,
                    data=_encoder.encode(request.data).decode(),
                    driver_session_id=me.session_id,
                    lease_expires_at=txn.now + self._lease,
                    frozen_cart=_encoder.encode(frozen).decode() if frozen else None,
                    locks_cart=initial.locks_cart,
                    final=initial.final,
                    created_at=txn.now,
                    updated_at=txn.now,
                )
            )
            await _announce(txn, me, EventKind.TRANSACTION_STARTED, transaction_id, kind=request.kind)
            return await self._view_in(txn.conn, me.customer_id, transaction_id)

        return await self._writer.run(work)

    async def get(self, device: Device, transaction_id: str) -> Transaction:
        async with self._read_engine.connect() as conn:
            return await self._view_in(conn, device.customer_id, transaction_id)

    async def list(self, device: Device) -> TransactionList:
        async with self._read_engine.connect() as conn:
            query = (
                select(transactions.c.id)
                .where(transactions.c.customer_id == device.customer_id)
                .order_by(transactions.c.created_at.desc())
            )
            ids = list((await conn.execute(query)).scalars())
            return TransactionList(transactions=[await self._view_in(conn, device.customer_id, tid) for tid in ids])

    async def step(
        self, device: Device, transaction_id: str, request: Step, idempotency_key: str | None
    ) -> tuple[Transaction, bool]:
        """Change fields and/or state as the driving device; a retry with the same key is answered, not redone."""
        route = f"POST /v1/transactions/{transaction_id}/step"
        fingerprint = idempotency.request_fingerprint(route, _encoder.encode(request)) if idempotency_key else ""

        async def work(txn: WriteTxn) -> tuple[Transaction, bool]:
            me = await device.hold(txn)
            if idempotency_key:
                stored = await idempotency.find_response(txn.conn, me.customer_id, idempotency_key, fingerprint)
                if stored is not None:
                    return _view_decoder.decode(stored.body), True
            view = await self._step_locked(txn, me, transaction_id, request)
            if idempotency_key:
                response = idempotency.StoredResponse(200, _encoder.encode(view))
                await txn.write(
                    idempotency.response_write(me.customer_id, idempotency_key, fingerprint, response, txn.now)
                )
            return view, False

        return await self._writer.run(work)

    async def _step_locked(self, txn: WriteTxn, device: Device, transaction_id: str, request: Step) -> Transaction:
        row = await _load(txn.conn, device.customer_id, transaction_id)
        machine = machine_for(self._machines, row.kind)
        if row.final:
            raise TransactionFinished(f"The transaction is {row.state}, a final state: it cannot change any more.")
        _check_driver(row, device, txn)
        if request.expected_version is not None and request.expected_version != row.version:
            raise VersionConflict(expected=request.expected_version, current=row.version, what="transaction")
        data = {**_data_decoder.decode(row.data), **request.data}
        target = request.to if request.to is not None and request.to != row.state else None
        if target is None and not request.data:
            return await self._view_in(txn.conn, device.customer_id, transaction_id)
        if target is not None:
            machine.check_move(row.state, target, data)
        state = target or row.state
        frozen = row.frozen_cart
        if target is not None and machine.freezes_cart and machine.state(target).locks_cart:
            # The cart is locked from here on: what will be bought is what the cart holds now.
            frozen = _encoder.encode(await _cart_now(txn.conn, device.customer_id)).decode()
        await self._write(txn, row, machine, state=state, data=data, driver=device.session_id, frozen=frozen)
        await _announce(
            txn,
            device,
            EventKind.TRANSACTION_UPDATED,
            transaction_id,
            kind=row.kind,
            state=state,
            previous=row.state,
            fields=sorted(request.data),
        )
        return await self._view_in(txn.conn, device.customer_id, transaction_id)

    async def takeover(self, device: Device, transaction_id: str) -> Transaction:
        """This device drives from now on; the previous driver hears `transaction.taken_over` on its stream."""

        async def work(txn: WriteTxn) -> Transaction:
            me = await device.hold(txn)
            row = await _load(txn.conn, me.customer_id, transaction_id)
            if row.final:
                raise TransactionFinished(f"The transaction is {row.state}: there is nothing left to drive.")
            if row.driver_session_id != me.session_id:
                machine = machine_for(self._machines, row.kind)
                data = _data_decoder.decode(row.data)
                await self._write(
                    txn, row, machine, state=row.state, data=data, driver=me.session_id, frozen=row.frozen_cart
                )
                await _announce(
                    txn,
                    me,
                    EventKind.TRANSACTION_TAKEN_OVER,
                    transaction_id,
                    kind=row.kind,
                    from_session=row.driver_session_id,
                    to_session=me.session_id,
                )
            return await self._view_in(txn.conn, me.customer_id, transaction_id)

        return await self._writer.run(work)

    async def confirm_payment(
        self, backend: TrustedBackend, transaction_id: str, request: ConfirmPayment
    ) -> Transaction:
        """The payment backend's word: success completes the checkout and creates its order, exactly once."""
        backend.require(PAYMENTS)

        async def work(txn: WriteTxn) -> Transaction:
            owner = (
                await txn.conn.execute(select(transactions.c.customer_id).where(transactions.c.id == transaction_id))
            ).scalar_one_or_none()
            if owner is None:
                raise NotFound("No transaction with that id.")
            await txn.lock_customer(owner)
            row = await _load(txn.conn, owner, transaction_id)
            machine = machine_for(self._machines, row.kind)
            paid = [name for name in machine.state(row.state).next if machine.state(name).entered_by == "payment"]
            if row.final:
                if machine.state(row.state).entered_by == "payment" and request.status == "succeeded":
                    return await self._view_in(txn.conn, owner, transaction_id)  # already completed: the same order
                raise TransactionFinished(f"The {row.kind} is {row.state}: it takes no payment any more.")
            if not paid:
                raise InvalidTransition(f"A {row.kind} in {row.state!r} is not waiting for a payment.", allowed_next=[])
            data = {**_data_decoder.decode(row.data), "payment_reference": request.reference}
            if request.status == "failed":
                back = next(name for name in machine.state(row.state).next if name not in paid)
                data["payment_error"] = request.reference
                await self._write(
                    txn, row, machine, state=back, data=data, driver=row.driver_session_id, frozen=row.frozen_cart
                )
                await _announce_by_backend(txn, owner, transaction_id, kind=row.kind, state=back, previous=row.state)
            else:
                await self._write(txn, row, machine, state=paid[0], data=data, driver=None, frozen=row.frozen_cart)
                await _announce_by_backend(txn, owner, transaction_id, kind=row.kind, state=paid[0], previous=row.state)
                await self._create_order(txn, owner, row, request.reference)
            return await self._view_in(txn.conn, owner, transaction_id)

        return await self._writer.run(work)

    async def _create_order(self, txn: WriteTxn, customer_id: str, row: Row[Any], reference: str) -> None:
        """The order from the frozen cart; the cart it came from is closed and a new empty one opened."""
        cart = _cart_decoder.decode(row.frozen_cart) if row.frozen_cart else await _cart_now(txn.conn, customer_id)
        order = Order(
            order_id="ord_" + secrets.token_hex(8),
            transaction_id=row.id,
            cart=cart,
            total=cart.subtotal,
            currency=cart.currency,
            payment_reference=reference,
            created_at=txn.now,
        )
        await txn.conn.execute(
            insert(orders).values(
                id=order.order_id,
                customer_id=customer_id,
                transaction_id=row.id,
                cart=_encoder.encode(cart).decode(),
                total=order.total,
                currency=order.currency,
                payment_reference=reference,
                created_at=txn.now,
            )
        )
        await txn.conn.execute(
            update(carts).where(carts.c.customer_id == customer_id, CART_IS_ACTIVE).values(status="ordered")
        )
        await create_active_cart(txn, customer_id, self._currency)
        fresh = await _cart_now(txn.conn, customer_id)
        await txn.append_event(
            customer_id, EventKind.ORDER_CREATED, msgspec.to_builtins(order), session_id=None, channel=None
        )
        await txn.append_event(
            customer_id,
            EventKind.CART_UPDATED,
            {"version": fresh.version, "ops": [], "reason": "ordered", "cart": msgspec.to_builtins(fresh)},
            session_id=None,
            channel=None,
        )

    async def _write(
        self,
        txn: WriteTxn,
        row: Row[Any],
        machine: Machine,
        *,
        state: str,
        data: dict[str, Any],
        driver: str | None,
        frozen: str | None,
    ) -> None:
        spec = machine.state(state)
        await txn.conn.execute(
            update(transactions)
            .where(transactions.c.id == row.id)
            .values(
                state=state,
                version=row.version + 1,
                data=_encoder.encode(data).decode(),
                driver_session_id=None if spec.final else driver,
                lease_expires_at=None if spec.final or driver is None else txn.now + self._lease,
                frozen_cart=frozen,
                locks_cart=spec.locks_cart,
                final=spec.final,
                updated_at=txn.now,
            )
        )

    async def _view_in(self, conn: Executor, customer_id: str, transaction_id: str) -> Transaction:
        row = await _load(conn, customer_id, transaction_id)
        machine = machine_for(self._machines, row.kind)
        order_row = (await conn.execute(select(orders).where(orders.c.transaction_id == row.id))).one_or_none()
        order = None
        if order_row is not None:
            order = Order(
                order_id=order_row.id,
                transaction_id=row.id,
                cart=_cart_decoder.decode(order_row.cart),
                total=order_row.total,
                currency=order_row.currency,
                payment_reference=order_row.payment_reference,
                created_at=order_row.created_at,
            )
        return Transaction(
            transaction_id=row.id,
            kind=row.kind,
            state=row.state,
            version=row.version,
            data=_data_decoder.decode(row.data),
            driver_session_id=row.driver_session_id,
            lease_expires_at=row.lease_expires_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            frozen_cart=_cart_decoder.decode(row.frozen_cart) if row.frozen_cart else None,
            order=order,
            allowed_next=[] if row.final else list(machine.state(row.state).next),
            terminal=row.final,
        )


async def _load(conn: Executor, customer_id: str, transaction_id: str) -> Row[Any]:
    query = select(transactions).where(transactions.c.id == transaction_id, transactions.c.customer_id == customer_id)
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        raise NotFound("This customer has no transaction with that id.")
    return row


async def _cart_now(conn: Executor, customer_id: str) -> Cart:
    return cart_from_row(await active_cart_row(conn, customer_id))


def _check_driver(row: Row[Any], device: Device, txn: WriteTxn) -> None:
    """Only the driving device steps, until its lease runs out; anyone else must take over first."""
    if row.driver_session_id in (None, device.session_id):
        return
    if row.lease_expires_at is not None and row.lease_expires_at <= txn.now:
        return
    raise TransactionLeaseHeld(
        "Another device is driving this transaction; take it over (POST .../takeover) to continue here."
    )


async def _announce(txn: WriteTxn, device: Device, event_kind: str, transaction_id: str, **data: Any) -> None:
    extra = {"agent_id": device.agent_id} if device.agent_id else {}
    await txn.append_event(
        device.customer_id,
        event_kind,
        {"transaction_id": transaction_id, **data, **extra},
        session_id=device.session_id,
        channel=device.channel,
    )


async def _announce_by_backend(txn: WriteTxn, customer_id: str, transaction_id: str, **data: Any) -> None:
    await txn.append_event(
        customer_id,
        EventKind.TRANSACTION_UPDATED,
        {"transaction_id": transaction_id, "by": "payment", **data},
        session_id=None,
        channel=None,
    )
