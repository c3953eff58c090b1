"""Cart rules over the database: read the active cart, apply a batch exactly once under the customer's lock."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import and_, bindparam, exists, insert, select, update

from omnicart.cart_ops import CartContents, CartLimits, OpRejected, apply_ops
from omnicart.protocol.cart import Cart, CartLine, CartOpsRequest
from omnicart.protocol.events import EventKind
from omnicart_server.db import idempotency
from omnicart_server.db.driver import named_values, prepared
from omnicart_server.db.models import CART_IS_ACTIVE, carts, customers, idempotency_keys, transactions
from omnicart_server.db.writer import Along
from omnicart_server.errors import CartLocked, NotFound, VersionConflict, customer_gone, rejection

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from omnicart_server.catalog.loader import Catalog
    from omnicart_server.db.executor import Executor
    from omnicart_server.db.reader import PointReader
    from omnicart_server.db.writer import Writer, WriteTxn
    from omnicart_server.sessions.service import Device

CART_OPS_ROUTE = "POST /v1/cart/ops"
_lines_decoder = msgspec.json.Decoder(list[CartLine])
_cart_decoder = msgspec.json.Decoder(Cart)
_encoder = msgspec.json.Encoder()
# Built once, so each write reuses their cache keys and compiled SQL (see omnicart_server.db.writer).
_ACTIVE_CART = prepared(select(carts).where(carts.c.customer_id == bindparam("customer_id"), CART_IS_ACTIVE))
_LOCKED_BY_CHECKOUT = exists().where(transactions.c.customer_id == carts.c.customer_id, transactions.c.locks_cart)
_CART_COLUMNS_TO_CHANGE = (carts.c.id, carts.c.version, carts.c.currency, carts.c.lines, carts.c.next_line_no)
"""The cart's columns a write builds on; not its times, which it replaces (reading each cost a datetime parse)."""
_CART_TO_CHANGE = prepared(
    select(
        customers.c.merged_into,
        *_CART_COLUMNS_TO_CHANGE,
        _LOCKED_BY_CHECKOUT.label("locked"),
        *idempotency.RECORD_COLUMNS,
    )
    .select_from(
        customers.outerjoin(carts, and_(carts.c.customer_id == customers.c.id, CART_IS_ACTIVE)).outerjoin(
            idempotency_keys,
            and_(idempotency_keys.c.customer_id == customers.c.id, idempotency_keys.c.key == bindparam("key")),
        )
    )
    .where(customers.c.id == bindparam("customer_id"))
)
"""Everything a cart write reads, in one statement: whether the customer was merged away, its active cart, whether a
checkout completing locks that cart, and the answer stored for the request's Idempotency-Key (none for a NULL key)."""
_WRITE_CART = prepared(
    update(carts)
    .where(carts.c.id == bindparam("cart_id"))
    .values(named_values(carts, "version", "lines", "next_line_no", "updated_at", "abandoned_at", prefix="cart_"))
)


def cart_from_row(row: Row[Any]) -> Cart:
    return _cart_at(row.id, row.version, row.currency, lines_of(row), row.updated_at)


def lines_of(row: Row[Any]) -> list[CartLine]:
    return _lines_decoder.decode(row.lines)


def next_version(row: Row[Any], contents: CartContents, now: datetime) -> tuple[Cart, Along]:
    """The cart of `row` with new contents as its next version, and the write that stores it, to go with its event."""
    version = row.version + 1
    values = {
        "cart_id": row.id,
        "cart_version": version,
        "cart_lines": _encoder.encode(contents.lines).decode(),
        "cart_next_line_no": contents.next_line_no,
        "cart_updated_at": now,
        "cart_abandoned_at": None,
    }
    return _cart_at(row.id, version, row.currency, contents.lines, now), Along(_WRITE_CART, values)


async def active_cart_row(conn: Executor, customer_id: str) -> Row[Any]:
    row = (await conn.execute(_ACTIVE_CART, {"customer_id": customer_id})).one_or_none()
    if row is None:
        raise _no_active_cart()
    return row


def _no_active_cart() -> NotFound:
    return NotFound("This customer has no active cart.")


async def create_active_cart(txn: WriteTxn, customer_id: str, currency: str) -> None:
    """Give a customer an empty active cart (the partial unique index refuses a second one)."""
    await txn.conn.execute(
        insert(carts).values(
            id="cart_" + secrets.token_hex(10),
            customer_id=customer_id,
            status="active",
            version=0,
            currency=currency,
            lines="[]",
            next_line_no=1,
            created_at=txn.now,
            updated_at=txn.now,
        )
    )


class CartService:
    """Reads and changes carts; every change is one event in the customer's log."""

    def __init__(self, writer: Writer, reader: PointReader, catalog: Catalog, limits: CartLimits) -> None:
        self._writer = writer
        self._reader = reader
        self._catalog = catalog
        self._limits = limits

    async def get(self, customer_id: str) -> Cart:
        row = await self._reader.one_or_none(_ACTIVE_CART, {"customer_id": customer_id})
        if row is None:
            raise _no_active_cart()
        return cart_from_row(row)

    async def apply(self, device: Device, request: CartOpsRequest, idempotency_key: str | None) -> tuple[Cart, bool]:
        """Apply the batch once; return the cart and whether this answer is a replay of an earlier one."""
        fingerprint = (
            idempotency.request_fingerprint(CART_OPS_ROUTE, _encoder.encode(request)) if idempotency_key else ""
        )

        async def work(txn: WriteTxn) -> tuple[Cart, bool]:
            me, row = await _read_to_change(txn, device, idempotency_key)
            if idempotency_key:
                stored = idempotency.stored_response(row, fingerprint)
                if stored is not None:
                    return _cart_decoder.decode(stored.body), True
            cart, cart_write = self._changed(me, row, request, txn.now)
            along = [cart_write]
            if idempotency_key:
                response = idempotency.StoredResponse(200, _encoder.encode(cart))
                along.append(
                    idempotency.response_write(me.customer_id, idempotency_key, fingerprint, response, txn.now)
                )
            await _announce(txn, me, request, cart, along)
            return cart, False

        return await self._writer.run(work)

    def _changed(self, device: Device, row: Row[Any], request: CartOpsRequest, now: datetime) -> tuple[Cart, Along]:
        """The cart with the batch applied, and the write that stores it; or the error that refuses the batch."""
        if row.id is None:
            raise _no_active_cart()
        if row.locked:
            raise CartLocked("A checkout is completing: the cart can change again once it completes or is cancelled.")
        if request.expected_version is not None and request.expected_version != row.version:
            raise VersionConflict(expected=request.expected_version, current=row.version)
        try:
            contents = apply_ops(
                CartContents(lines_of(row), row.next_line_no),
                request.ops,
                self._catalog,
                self._limits,
                may_set_prices=device.may_set_prices,
            )
        except OpRejected as refused:
            raise rejection(refused.code, refused.detail) from refused
        return next_version(row, contents, now)


async def _announce(txn: WriteTxn, device: Device, request: CartOpsRequest, cart: Cart, along: list[Along]) -> None:
    """The cart.updated event of the batch, with the writes that store its outcome."""
    await txn.append_event(
        device.customer_id,
        EventKind.CART_UPDATED,
        {
            "version": cart.version,
            "ops": msgspec.to_builtins(request.ops),
            "cart": msgspec.to_builtins(cart),
            **({"agent_id": device.agent_id} if device.agent_id else {}),
        },
        session_id=device.session_id,
        channel=device.channel,
        along=along,
    )


async def _read_to_change(txn: WriteTxn, device: Device, idempotency_key: str | None) -> tuple[Device, Row[Any]]:
    """The device as it writes, its customer held, and the _CART_TO_CHANGE row."""
    customer_id, row = await txn.hold_and_read(device.customer_id, _CART_TO_CHANGE, {"key": idempotency_key})
    if row is None:
        raise customer_gone()
    return device.moved_to(customer_id), row


def _cart_at(cart_id: str, version: int, currency: str, lines: list[CartLine], updated_at: datetime) -> Cart:
    return Cart(
        cart_id=cart_id,
        version=version,
        currency=currency,
        lines=lines,
        subtotal=sum(line.line_total for line in lines),
        item_count=sum(line.qty for line in lines),
        updated_at=updated_at,
    )
