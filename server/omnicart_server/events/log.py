"""Read a customer's event log after a seq: the replay source for HTTP clients and the live stream."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from sqlalchemy import bindparam, delete, exists, func, select, update

from omnicart.protocol.events import Event, EventPage
from omnicart_server.db.models import customers, events
from omnicart_server.errors import LogTruncated, customer_gone

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart_server.db.executor import Executor
    from omnicart_server.db.reader import PointReader

_data_decoder = msgspec.json.Decoder(dict[str, Any])


def _event_of(row: Row[Any]) -> Event:
    return Event(
        seq=row.seq,
        kind=row.kind,
        at=row.at,
        session_id=row.session_id,
        channel=row.channel,
        data=_data_decoder.decode(row.data),
    )


class LogPosition(NamedTuple):
    """Where a customer's log stands: its newest seq, its epoch and the last seq retention dropped."""

    head: int
    epoch: str
    pruned_seq: int


_POSITION = select(customers.c.head_seq, customers.c.epoch, customers.c.pruned_seq).where(
    customers.c.id == bindparam("customer_id")
)
_PAGE = (
    select(events, customers.c.head_seq, customers.c.pruned_seq)
    .join(customers, customers.c.id == events.c.customer_id)
    .where(events.c.customer_id == bindparam("customer_id"), events.c.seq > bindparam("since"))
    .order_by(events.c.seq)
    .limit(bindparam("limit"))
)
"""Each event with its customer's head and pruned seq, read in the same statement."""


async def log_position(reader: PointReader, customer_id: str) -> LogPosition:
    row = await reader.one_or_none(_POSITION, {"customer_id": customer_id})
    if row is None:
        raise customer_gone()
    return LogPosition(row.head_seq, row.epoch, row.pruned_seq)


async def read_events(reader: PointReader, customer_id: str, since: int, limit: int) -> EventPage:
    """Up to `limit` events with seq > `since`, in order, and the customer's head seq.

    The events and the log's head and pruned seq come from one statement, so from one snapshot: the head is never
    below the page's last seq, and a prune that commits meanwhile cannot make a whole page look truncated. An empty
    page reads them on their own: a prune meanwhile had no event after `since` to drop.
    """
    rows = await reader.all(_PAGE, {"customer_id": customer_id, "since": since, "limit": limit})
    if rows:
        head, pruned_seq = rows[0].head_seq, rows[0].pruned_seq
    else:
        head, _, pruned_seq = await log_position(reader, customer_id)
    if since < pruned_seq:
        raise LogTruncated(pruned_seq=pruned_seq)
    page = [_event_of(row) for row in rows]
    last = page[-1].seq if page else since
    return EventPage(events=page, head=head, has_more=last < head)


async def prune_events(conn: Executor, cutoff: datetime) -> int:
    """Drop events written before `cutoff`, recording per customer the last seq dropped; returns how many."""
    old = events.alias("old")
    newest_old_seq = (
        select(func.max(old.c.seq)).where(old.c.customer_id == customers.c.id, old.c.at < cutoff).scalar_subquery()
    )
    await conn.execute(
        update(customers)
        .where(exists().where(events.c.customer_id == customers.c.id, events.c.at < cutoff))
        .values(pruned_seq=newest_old_seq)
    )
    pruned_through = select(customers.c.pruned_seq).where(customers.c.id == events.c.customer_id).scalar_subquery()
    result = await conn.execute(delete(events).where(events.c.seq <= pruned_through))
    return result.rowcount


async def merged_history(engine: AsyncEngine, customer_id: str, limit: int) -> list[tuple[str, Event]]:
    """The newest `limit` events of the customer's log and of every log merged into it, oldest first."""
    async with engine.connect() as conn:
        family = [customer_id]
        frontier = [customer_id]
        while frontier and len(family) < 64:
            query = select(customers.c.id).where(customers.c.merged_into.in_(frontier))
            frontier = list((await conn.execute(query)).scalars())
            family.extend(frontier)
        rows = (
            await conn.execute(
                select(events).where(events.c.customer_id.in_(family)).order_by(events.c.at.desc()).limit(limit)
            )
        ).all()
    return [(row.customer_id, _event_of(row)) for row in reversed(rows)]
