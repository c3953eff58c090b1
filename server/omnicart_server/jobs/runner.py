"""Background jobs, run by one process at a time (the lease holder), so each cart.abandoned is emitted once.

Every process refreshes which event kinds webhooks want; the lease holder runs abandonment, purge, retention and
webhook delivery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from omnicart_server.jobs.expiry import apply_retention, mark_abandoned, purge_anonymous
from omnicart_server.jobs.lease import take_lease

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart_server.config import Settings
    from omnicart_server.db.writer import Writer, WriteTxn
    from omnicart_server.webhooks.dispatcher import WebhookDispatcher
    from omnicart_server.webhooks.outbox import WebhookOutbox

logger = logging.getLogger(__name__)

LEASE = "background-jobs"


class JobRunner:
    def __init__(
        self,
        writer: Writer,
        read_engine: AsyncEngine,
        settings: Settings,
        outbox: WebhookOutbox,
        dispatcher: WebhookDispatcher,
    ) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._writer = writer
        self._read_engine = read_engine
        self._settings = settings
        self._outbox = outbox
        self._dispatcher = dispatcher
        self._retention_due = 0.0
        self._lease_ttl = timedelta(seconds=max(3 * settings.jobs_interval_seconds, 10.0))

    async def close(self) -> None:
        await self._dispatcher.close()

    async def run_forever(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self._settings.jobs_interval_seconds)

    async def tick(self) -> None:
        try:
            await self._outbox.refresh(self._read_engine)
            if await self._writer.run(self._take_lease):
                await self._run_jobs()
        except Exception:
            logger.exception("background jobs failed; will try again")

    async def _take_lease(self, txn: WriteTxn) -> bool:
        return await take_lease(txn, LEASE, self.holder, self._lease_ttl)

    async def _run_jobs(self) -> None:
        settings = self._settings
        if settings.cart_abandoned_after_seconds:
            cutoff = timedelta(seconds=settings.cart_abandoned_after_seconds)
            await self._writer.run(lambda txn: mark_abandoned(txn, txn.now - cutoff))
        if settings.anonymous_purge_after_seconds:
            purge_after = timedelta(seconds=settings.anonymous_purge_after_seconds)
            purged = await self._writer.run(lambda txn: purge_anonymous(txn, txn.now - purge_after))
            if purged:
                logger.info("purged %d inactive anonymous customers", purged)
        if time.monotonic() >= self._retention_due:
            answers, pruned = await self._writer.run(lambda txn: apply_retention(txn, settings))
            if answers or pruned:
                logger.info("retention dropped %d idempotency records and %d events", answers, pruned)
            self._retention_due = time.monotonic() + settings.housekeeping_interval_seconds
        await self._dispatcher.run_once()
