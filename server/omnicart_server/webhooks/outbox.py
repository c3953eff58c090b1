"""Which event kinds any endpoint wants, and the outbox row written with each such event."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from omnicart_server.db.models import webhook_endpoints, webhook_outbox

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart.protocol.events import Event
    from omnicart_server.db.writer import WriteTxn

logger = logging.getLogger(__name__)


class WebhookOutbox:
    """Writes an outbox row in the event's own transaction, for the kinds some endpoint subscribed to.

    The wanted kinds are read from the database at start and refreshed by the job runner every few seconds, so an
    endpoint registered through another process starts receiving events within that delay.
    """

    def __init__(self) -> None:
        self._wanted: set[str] = set()

    def wants(self, kind: str) -> bool:
        return "*" in self._wanted or kind in self._wanted

    async def refresh(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(webhook_endpoints.c.events).where(webhook_endpoints.c.disabled_at.is_(None)))
            ).scalars()
            self._wanted = {kind for events in rows for kind in events.split()}

    def subscribe(self, kinds: list[str]) -> None:
        """Take a new endpoint's kinds at once in this process (others pick them up at their next refresh)."""
        self._wanted |= set(kinds)

    async def record(self, txn: WriteTxn, customer_id: str, event: Event) -> None:
        if self.wants(event.kind):
            await txn.conn.execute(
                insert(webhook_outbox).values(
                    customer_id=customer_id, seq=event.seq, kind=event.kind, fanned_out=False, created_at=txn.now
                )
            )
