"""Deliver outbox events to webhook endpoints: signed (Standard Webhooks), retried with backoff, then parked.

Delivery is at least once: a process that dies between the POST and recording it sends again on retry, with the
same `webhook-id`, so receivers drop duplicates by that id (as the Standard Webhooks spec advises).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
from sqlalchemy import insert, select, update
from standardwebhooks.webhooks import Webhook as Signer

from omnicart.protocol.events import Event
from omnicart_server.db.models import events, webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_outbox

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart_server.config import Settings
    from omnicart_server.db.writer import Writer, WriteTxn

logger = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
DELIVERY_BATCH = 64
PARALLEL_DELIVERIES = 16
_encoder = msgspec.json.Encoder()
_data_decoder = msgspec.json.Decoder(dict[str, Any])


def message_id(delivery_id: int) -> str:
    return f"msg_{delivery_id}"


class WebhookDispatcher:
    """Turns outbox rows into deliveries and sends the due ones; run by the job-lease holder only."""

    def __init__(self, writer: Writer, read_engine: AsyncEngine, settings: Settings) -> None:
        self._writer = writer
        self._read_engine = read_engine
        self._settings = settings
        self._http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()

    async def run_once(self) -> None:
        await self._writer.run(self._fan_out)
        due = await self._due()
        limit = asyncio.Semaphore(PARALLEL_DELIVERIES)

        async def deliver(row: Row[Any]) -> None:
            async with limit:
                await self._deliver(row)

        await asyncio.gather(*(deliver(row) for row in due))

    async def _fan_out(self, txn: WriteTxn) -> None:
        """One delivery per (outbox event, endpoint that wants its kind)."""
        pending = (
            await txn.conn.execute(
                select(webhook_outbox)
                .where(~webhook_outbox.c.fanned_out)
                .order_by(webhook_outbox.c.id)
                .limit(FAN_OUT_BATCH)
            )
        ).all()
        if not pending:
            return
        endpoints = (
            await txn.conn.execute(
                select(webhook_endpoints.c.id, webhook_endpoints.c.events).where(
                    webhook_endpoints.c.disabled_at.is_(None)
                )
            )
        ).all()
        for row in pending:
            for endpoint in endpoints:
                wanted = endpoint.events.split()
                if "*" in wanted or row.kind in wanted:
                    await txn.conn.execute(
                        insert(webhook_deliveries).values(
                            endpoint_id=endpoint.id,
                            outbox_id=row.id,
                            status="pending",
                            attempts=0,
                            next_attempt_at=txn.now,
                            created_at=txn.now,
                        )
                    )
        await txn.conn.execute(
            update(webhook_outbox).where(webhook_outbox.c.id.in_([row.id for row in pending])).values(fanned_out=True)
        )

    async def _due(self) -> Sequence[Any]:
        query = (
            select(
                webhook_deliveries.c.id,
                webhook_deliveries.c.attempts,
                webhook_endpoints.c.url,
                webhook_endpoints.c.secret,
                webhook_outbox.c.customer_id,
                webhook_outbox.c.seq,
                webhook_outbox.c.kind,
            )
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
            .join(webhook_outbox, webhook_outbox.c.id == webhook_deliveries.c.outbox_id)
            .where(
                webhook_deliveries.c.status == "pending",
                webhook_deliveries.c.next_attempt_at <= _now(),
                webhook_endpoints.c.disabled_at.is_(None),
            )
            .order_by(webhook_deliveries.c.next_attempt_at)
            .limit(DELIVERY_BATCH)
        )
        async with self._read_engine.connect() as conn:
            return (await conn.execute(query)).all()

    async def _deliver(self, row: Row[Any]) -> None:
        """One attempt; whatever goes wrong is recorded as this delivery's attempt and never stops the others."""
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        final = False
        try:
            payload = await self._payload(row)
            if payload is None:
                error, final = "the event is no longer in the log (past retention); nothing left to send", True
            else:
                status_code = await self._post(row, payload)
                if not 200 <= status_code < 300:
                    error = f"endpoint answered {status_code}"
        except Exception as exc:  # a bad URL, a refused connection, a timeout ...
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration_ms = int((time.perf_counter() - started) * 1000)
        await self._writer.run(lambda txn: self._record(txn, row, status_code, error, duration_ms, final=final))

    async def _post(self, row: Row[Any], payload: str) -> int:
        msg_id, sent_at = message_id(row.id), _now()
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Signer(row.secret).sign(msg_id, sent_at, payload),
        }
        response = await self._http.post(row.url, content=payload, headers=headers)
        return response.status_code

    async def _payload(self, row: Row[Any]) -> str | None:
        """The body to send, or None when retention already dropped the event."""
        async with self._read_engine.connect() as conn:
            stored = (
                await conn.execute(
                    select(events).where(events.c.customer_id == row.customer_id, events.c.seq == row.seq)
                )
            ).one_or_none()
        if stored is None:
            return None
        event = Event(
            seq=stored.seq,
            kind=stored.kind,
            at=stored.at,
            session_id=stored.session_id,
            channel=stored.channel,
            data=_data_decoder.decode(stored.data),
        )
        body = {"type": event.kind, "timestamp": event.at, "data": {"customer_id": row.customer_id, "event": event}}
        return _encoder.encode(body).decode()

    async def _record(
        self,
        txn: WriteTxn,
        row: Row[Any],
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        *,
        final: bool = False,
    ) -> None:
        await txn.conn.execute(
            insert(webhook_attempts).values(
                delivery_id=row.id, at=txn.now, status_code=status_code, error=error, duration_ms=duration_ms
            )
        )
        attempts = row.attempts + 1
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "attempts": attempts, "delivered_at": txn.now}
        elif final or attempts >= self._settings.webhook_max_attempts:
            values = {"status": "parked", "attempts": attempts, "last_error": error}
            logger.warning("webhook delivery %s parked after %d attempts: %s", row.id, attempts, error)
        else:
            wait = self._settings.webhook_retry_base_seconds * 4 ** (attempts - 1)
            values = {"attempts": attempts, "last_error": error, "next_attempt_at": txn.now + timedelta(seconds=wait)}
        await txn.conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == row.id).values(**values))


def _now() -> datetime:
    return datetime.now(UTC)
