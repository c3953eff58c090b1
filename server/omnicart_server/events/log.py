"""Read a customer's event log after a seq: the replay source for HTTP clients and the live stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from omnicart.protocol.events import Event, EventPage
from sqlalchemy import select

from omnicart_server.db.models import customers, events

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

_data_decoder = msgspec.json.Decoder(dict[str, Any])


async def read_events(engine: AsyncEngine, customer_id: str, since: int, limit: int) -> EventPage:
    """Up to `limit` events with seq > `since`, in order, and the customer's head seq."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(events)
                .where(events.c.customer_id == customer_id, events.c.seq > since)
                .order_by(events.c.seq)
                .limit(limit)
            )
        ).all()
        # Read after the rows: the head only grows, so it is never below the last seq of the page.
        head = (await conn.execute(select(customers.c.head_seq).where(customers.c.id == customer_id))).scalar_one()
    page = [
        Event(
            seq=row.seq,
            kind=row.kind,
            at=row.at,
            session_id=row.session_id,
            channel=row.channel,
            data=_data_decoder.decode(row.data),
        )
        for row in rows
    ]
    last = page[-1].seq if page else since
    return EventPage(events=page, head=head, has_more=last < head)


async def log_position(engine: AsyncEngine, customer_id: str) -> tuple[int, str]:
    """The customer's head seq and log epoch."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(customers.c.head_seq, customers.c.epoch).where(customers.c.id == customer_id))
        ).one()
    return row.head_seq, row.epoch
