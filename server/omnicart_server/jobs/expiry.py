"""What time takes away: idle carts (announced once), inactive anonymous customers, old answers and events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, exists, select, update

from omnicart.protocol.events import EventKind
from omnicart_server.carts.service import cart_from_row
from omnicart_server.db import idempotency
from omnicart_server.db.models import (
    CART_IS_ACTIVE,
    assist_consents,
    carts,
    customers,
    events,
    handoff_codes,
    idempotency_keys,
    identities,
    orders,
    sessions,
    transactions,
)
from omnicart_server.events.log import prune_events

if TYPE_CHECKING:
    from omnicart_server.config import Settings
    from omnicart_server.db.writer import WriteTxn

BATCH = 200


async def mark_abandoned(txn: WriteTxn, cutoff: datetime) -> int:
    """Emit cart.abandoned once for each non-empty active cart untouched since `cutoff`; returns how many."""
    idle = (
        select(carts)
        .where(
            CART_IS_ACTIVE,
            carts.c.lines != "[]",
            carts.c.updated_at < cutoff,
            carts.c.abandoned_at.is_(None),
        )
        .order_by(carts.c.customer_id)
        .limit(BATCH)
    )
    rows = (await txn.conn.execute(idle)).all()
    marked = 0
    for candidate in rows:  # customer order: the same lock order as every other multi-customer write
        await txn.lock_customer(candidate.customer_id)
        # Read again under the lock: the cart may have changed since it was picked.
        row = (await txn.conn.execute(idle.where(carts.c.id == candidate.id))).one_or_none()
        if row is None:
            continue
        cart = cart_from_row(row)
        await txn.append_event(
            row.customer_id,
            EventKind.CART_ABANDONED,
            {
                "cart_id": cart.cart_id,
                "version": cart.version,
                "item_count": cart.item_count,
                "subtotal": cart.subtotal,
                "currency": cart.currency,
                "idle_since": row.updated_at.isoformat(),
            },
            session_id=None,
            channel=None,
        )
        await txn.conn.execute(update(carts).where(carts.c.id == row.id).values(abandoned_at=txn.now))
        marked += 1
    return marked


async def purge_anonymous(txn: WriteTxn, cutoff: datetime) -> int:
    """Delete customers nobody can come back as: no identity, no order, nothing merged in, no event since `cutoff`."""
    me = customers.c.id
    merged_in = customers.alias("merged_in")
    candidates = (
        select(me)
        .where(
            customers.c.created_at < cutoff,
            customers.c.merged_into.is_(None),
            ~exists().where(identities.c.customer_id == me),
            ~exists().where(orders.c.customer_id == me),
            ~exists().where(merged_in.c.merged_into == me),
            ~exists().where(events.c.customer_id == me, events.c.at >= cutoff),
            ~exists().where(sessions.c.customer_id == me, sessions.c.last_seen >= cutoff),
        )
        .limit(BATCH)
    )
    gone = list((await txn.conn.execute(candidates)).scalars())
    for table in (
        events,
        idempotency_keys,
        handoff_codes,
        assist_consents,
        transactions,
        sessions,
        carts,
    ):
        if gone:
            await txn.conn.execute(delete(table).where(table.c.customer_id.in_(gone)))
    if gone:
        await txn.conn.execute(delete(customers).where(me.in_(gone)))
    return len(gone)


async def apply_retention(txn: WriteTxn, settings: Settings) -> tuple[int, int]:
    """Drop stored answers and events past their retention; returns how many of each."""
    answers = await idempotency.purge_before(
        txn.conn, txn.now - timedelta(seconds=settings.idempotency_retention_seconds)
    )
    if settings.event_retention_seconds == 0:
        return answers, 0
    return answers, await prune_events(txn.conn, txn.now - timedelta(seconds=settings.event_retention_seconds))
