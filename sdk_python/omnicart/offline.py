"""A cart that keeps selling when the network drops: writes wait in a durable local queue and are sent in order.

Each write gets its Idempotency-Key when it is made, so however often it is sent it applies once. The local view is
the last cart the server answered plus the pending writes applied with the server's own rules (omnicart.cart_ops):
when the server answers, its cart wins and the view is rebased on it. A write the server refuses is dropped from the
queue and reported (`rejected`); it is never retried forever and never blocks the writes behind it (DESIGN.md §5).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from omnicart import _calls
from omnicart.cart_ops import CartContents, CartLimits, OpRejected, apply_ops
from omnicart.errors import AuthError, ProblemError, RateLimitedError, ServerError, TransportError
from omnicart.protocol.cart import AddItem, Cart, CartLine, CartOp, CartOpsRequest, Clear, RemoveItem, SetQuantity
from omnicart.protocol.catalog import CatalogItem

if TYPE_CHECKING:
    from omnicart.client import Client

LOCAL_LIMITS = CartLimits(max_qty_per_line=999, max_lines=200, max_ops=100)
"""The server's defaults: the local view refuses what the server would (the server still has the last word)."""
_ops_decoder = msgspec.json.Decoder(CartOpsRequest)
_cart_decoder = msgspec.json.Decoder(Cart)
_prices_decoder = msgspec.json.Decoder(list[CatalogItem])
_encoder = msgspec.json.Encoder()


class PendingWrite(msgspec.Struct, frozen=True):
    """A write made while offline (or not yet answered), with the key it will always be sent with."""

    id: int
    idempotency_key: str
    request: CartOpsRequest
    made_at: float


class Rejection(msgspec.Struct, frozen=True):
    """A pending write the server refused: dropped from the queue, kept here for the app to show."""

    write: PendingWrite
    code: str
    detail: str


class LocalCart(msgspec.Struct, frozen=True):
    """What the till shows: the cart with pending writes applied, and which writes are still pending."""

    cart: Cart
    pending: list[PendingWrite]


class OfflineQueue:
    """Pending writes and the last server cart, in a SQLite file (synchronous=FULL: they survive a crash)."""

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
            "body BLOB NOT NULL, made_at REAL NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS kept (name TEXT PRIMARY KEY, value BLOB NOT NULL)")

    def push(self, ops: list[CartOp]) -> PendingWrite:
        request = CartOpsRequest(ops=ops)
        key, made_at = str(uuid.uuid4()), time.time()
        cursor = self._db.execute(
            "INSERT INTO pending (key, body, made_at) VALUES (?, ?, ?)", (key, _encoder.encode(request), made_at)
        )
        return PendingWrite(id=int(cursor.lastrowid or 0), idempotency_key=key, request=request, made_at=made_at)

    def pending(self) -> list[PendingWrite]:
        rows = self._db.execute("SELECT id, key, body, made_at FROM pending ORDER BY id").fetchall()
        return [
            PendingWrite(id=r[0], idempotency_key=r[1], request=_ops_decoder.decode(r[2]), made_at=r[3]) for r in rows
        ]

    def done(self, write: PendingWrite) -> None:
        self._db.execute("DELETE FROM pending WHERE id = ?", (write.id,))

    def keep(self, name: str, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO kept (name, value) VALUES (?, ?)", (name, value))

    def kept(self, name: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM kept WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def close(self) -> None:
        self._db.close()


class OfflineCart:
    """`client.cart` for a till: every write is queued first, then sent when the server can be reached."""

    def __init__(self, client: Client, queue: OfflineQueue) -> None:
        self._client = client
        self._queue = queue
        self.rejected: list[Rejection] = []

    def add(self, sku: str, qty: int = 1) -> LocalCart:
        return self.apply([AddItem(sku=sku, qty=qty)])

    def set_quantity(self, line_id: str, qty: int) -> LocalCart:
        return self.apply([SetQuantity(line_id=line_id, qty=qty)])

    def remove(self, line_id: str) -> LocalCart:
        return self.apply([RemoveItem(line_id=line_id)])

    def clear(self) -> LocalCart:
        return self.apply([Clear()])

    def apply(self, ops: list[CartOp]) -> LocalCart:
        """Queue the write durably, try to send everything pending, and return the local view."""
        self._queue.push(ops)
        self.sync()
        return self.view()

    def sync(self) -> int:
        """Send pending writes in order until done or offline; return how many the server answered (or refused).

        AuthError when the till's session and customer token no longer work: nothing pending is dropped.
        """
        answered = 0
        for write in self._queue.pending():
            call = replace(_calls.cart_ops(write.request.ops), idempotency_key=write.idempotency_key)
            try:
                cart = self._client.run(call, retries=0)
            except (TransportError, ServerError, RateLimitedError):
                return answered  # offline or told to slow down: keep it, and everything after it, for the next sync
            except AuthError:
                raise  # the till's session, not the sale, is at fault: keep every write until it signs in again
            except ProblemError as refused:
                self.rejected.append(Rejection(write=write, code=refused.code, detail=refused.problem.detail))
            else:
                self._queue.keep("cart", _encoder.encode(cart))
            self._queue.done(write)
            answered += 1
        if answered == 0 and not self._queue.pending():
            self.refresh()
        return answered

    def refresh(self) -> None:
        """Take the server's cart and catalog prices as the base of the local view (when online)."""
        try:
            self._queue.keep("cart", _encoder.encode(self._client.run(_calls.get_cart(), retries=0)))
            self._queue.keep("prices", _encoder.encode(self._client.run(_calls.search_catalog(""), retries=0).items))
        except (TransportError, ServerError):
            pass

    def rebase(self, cart: Cart) -> None:
        """Take a newer cart the server sent elsewhere (a live stream's `live.cart`) as the base of the view.

        Pending writes then show on top of what the customer's other devices did; an older cart changes nothing.
        """
        kept = self._queue.kept("cart")
        held = _cart_decoder.decode(kept) if kept else None
        if held is None or held.cart_id != cart.cart_id or held.version < cart.version:
            self._queue.keep("cart", _encoder.encode(cart))

    def view(self) -> LocalCart:
        """The last server cart with the pending writes applied by the same rules as the server."""
        kept = self._queue.kept("cart")
        base = _cart_decoder.decode(kept) if kept else None
        lines: list[CartLine] = list(base.lines) if base else []
        next_line_no = 1 + max((int(line.line_id[1:]) for line in lines if line.line_id[1:].isdigit()), default=0)
        prices = {item.sku: item for item in _prices_decoder.decode(self._queue.kept("prices") or b"[]")}
        contents = CartContents(lines, next_line_no)
        pending = self._queue.pending()
        for write in pending:
            try:
                contents = apply_ops(contents, write.request.ops, prices, LOCAL_LIMITS)
            except OpRejected:
                continue  # the server will refuse it too, and say why; the view skips it meanwhile
        cart = Cart(
            cart_id=base.cart_id if base else "",
            version=base.version if base else 0,
            currency=base.currency if base else "",
            lines=contents.lines,
            subtotal=sum(line.line_total for line in contents.lines),
            item_count=sum(line.qty for line in contents.lines),
            updated_at=base.updated_at if base else datetime.now(UTC),
        )
        return LocalCart(cart=cart, pending=pending)
