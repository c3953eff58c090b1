"""Webhook endpoints of trusted backends (API key, scope `admin`), and their delivery log."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import insert, select, update

from omnicart.protocol.webhooks import CreateWebhook, Delivery, DeliveryAttempt, DeliveryList, Webhook, WebhookList
from omnicart_server.db.models import webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_outbox
from omnicart_server.errors import InvalidBody, NotFound
from omnicart_server.webhooks.dispatcher import message_id

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart_server.db.writer import Writer, WriteTxn
    from omnicart_server.webhooks.outbox import WebhookOutbox

DELIVERY_PAGE = 100


def _check_url(url: str) -> None:
    """Refuse a URL no delivery could reach (no host, a broken IPv6 literal) before it is stored."""
    try:
        host = urlsplit(url).hostname
    except ValueError as exc:
        raise InvalidBody(f"The webhook url {url!r} cannot be parsed: {exc}.") from exc
    if not host:
        raise InvalidBody(f"The webhook url {url!r} has no host.")


class WebhookService:
    def __init__(self, writer: Writer, read_engine: AsyncEngine, outbox: WebhookOutbox) -> None:
        self._writer = writer
        self._read_engine = read_engine
        self._outbox = outbox

    async def create(self, request: CreateWebhook) -> Webhook:
        """Register an endpoint; its signing secret is returned this once."""
        _check_url(request.url)
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        webhook_id = "wh_" + secrets.token_hex(8)

        async def work(txn: WriteTxn) -> Webhook:
            await txn.conn.execute(
                insert(webhook_endpoints).values(
                    id=webhook_id, url=request.url, events=" ".join(request.events), secret=secret, created_at=txn.now
                )
            )
            return Webhook(
                webhook_id=webhook_id, url=request.url, events=request.events, created_at=txn.now, secret=secret
            )

        webhook = await self._writer.run(work)
        self._outbox.subscribe(request.events)
        return webhook

    async def list(self) -> WebhookList:
        async with self._read_engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(webhook_endpoints)
                    .where(webhook_endpoints.c.disabled_at.is_(None))
                    .order_by(webhook_endpoints.c.created_at)
                )
            ).all()
        return WebhookList(
            webhooks=[
                Webhook(webhook_id=row.id, url=row.url, events=row.events.split(), created_at=row.created_at)
                for row in rows
            ]
        )

    async def disable(self, webhook_id: str) -> None:
        async def work(txn: WriteTxn) -> None:
            result = await txn.conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.id == webhook_id, webhook_endpoints.c.disabled_at.is_(None))
                .values(disabled_at=txn.now)
            )
            if result.rowcount != 1:
                raise NotFound("No active webhook with that id.")

        await self._writer.run(work)

    async def deliveries(self, webhook_id: str) -> DeliveryList:
        """The newest deliveries to an endpoint, each with every attempt made."""
        async with self._read_engine.connect() as conn:
            known = select(webhook_endpoints.c.id).where(webhook_endpoints.c.id == webhook_id)
            if (await conn.execute(known)).first() is None:
                raise NotFound("No webhook with that id.")
            rows = (
                await conn.execute(
                    select(
                        webhook_deliveries, webhook_outbox.c.customer_id, webhook_outbox.c.seq, webhook_outbox.c.kind
                    )
                    .join(webhook_outbox, webhook_outbox.c.id == webhook_deliveries.c.outbox_id)
                    .where(webhook_deliveries.c.endpoint_id == webhook_id)
                    .order_by(webhook_deliveries.c.id.desc())
                    .limit(DELIVERY_PAGE)
                )
            ).all()
            ids = [row.id for row in rows]
            tries = (
                await conn.execute(
                    select(webhook_attempts)
                    .where(webhook_attempts.c.delivery_id.in_(ids))
                    .order_by(webhook_attempts.c.id)
                )
            ).all()
        attempts: dict[int, list[DeliveryAttempt]] = {}
        for attempt in tries:
            attempts.setdefault(attempt.delivery_id, []).append(
                DeliveryAttempt(
                    at=attempt.at, status_code=attempt.status_code, error=attempt.error, duration_ms=attempt.duration_ms
                )
            )
        return DeliveryList(
            deliveries=[
                Delivery(
                    delivery_id=row.id,
                    message_id=message_id(row.id),
                    event_kind=row.kind,
                    customer_id=row.customer_id,
                    seq=row.seq,
                    status=row.status,
                    attempts=attempts.get(row.id, []),
                    next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
                )
                for row in rows
            ]
        )
